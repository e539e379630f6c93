"""Leaderboard- and Submit-tab callbacks: tables, figures, refresh, CSV, record upload."""

from __future__ import annotations

import tempfile

import pandas as pd

from leaderboard import figures
from leaderboard.table import aggregate_seeds, filter_runs, runs_frame

from ..errors import XltError
from ..hub import ResultsStore

ALL = "All"
SUMMARY_COLUMNS = ["task", "method", "model", "source", "metric", "target_avg", "target_ci95", "transfer_gap",
                   "seed", "run_id"]


def load_runs(store: ResultsStore) -> tuple[pd.DataFrame, list[str]]:
    records, errors = store.records()
    return runs_frame(records), errors


def filter_choices(runs: pd.DataFrame) -> dict[str, list[str]]:
    return {col: [ALL] + sorted(runs[col].dropna().unique().tolist()) if not runs.empty else [ALL]
            for col in ("task", "method", "model", "source")}


def _round(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(4)


def leaderboard_table(runs: pd.DataFrame, task=ALL, method=ALL, model=ALL, source=ALL, search="",
                      aggregate=False, show_languages=False) -> pd.DataFrame:
    """The table the tab shows for the chosen filters."""
    sel = filter_runs(runs, task, method, model, source, search)
    if aggregate:
        sel = aggregate_seeds(sel)
        keep = [c for c in ("task", "method", "model", "source", "metric", "target_avg", "target_std",
                            "transfer_gap", "seeds") if c in sel.columns]
    else:
        keep = [c for c in SUMMARY_COLUMNS if c in sel.columns]
    if show_languages:
        keep += [c for c in sel.columns if c.startswith("lang:")]
    return _round(sel[keep]) if not sel.empty else pd.DataFrame(columns=keep)


def leaderboard_figures(runs: pd.DataFrame, task=ALL, method=ALL):
    """(heatmap, method comparison, per-language bars) for one task; errors become placeholder figures."""
    if task in (None, "", ALL):
        task = runs["task"].iloc[0] if not runs.empty else None
    if task is None:
        empty = figures.error_figure("No results yet: train a model or upload a record.")
        return empty, empty, empty
    return (figures.source_target_heatmap(runs, task, method), figures.method_comparison(runs, task),
            figures.per_language_bars(runs, task=task))


def csv_file(table: pd.DataFrame) -> str:
    """Write the shown table to a CSV file for download."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".csv", prefix="xlt-leaderboard-", delete=False)
    table.to_csv(handle, index=False)
    handle.close()
    return handle.name


def refresh(store: ResultsStore) -> str:
    """Pull from the results repo and push what waits in the outbox."""
    return f"{store.pull()} {store.push_pending()}"


def upload_record(store: ResultsStore, file_path: str | None) -> str:
    if not file_path:
        return "**Error:** choose a result JSON file first."
    try:
        record = store.import_upload(file_path)
    except XltError as exc:
        return f"**Rejected:** {exc}"
    return f"Added run `{record['run_id']}` ({record['task']}, {record['method']}, {record['model']})."


def methods_markdown() -> str:
    from ..methods import METHODS

    lines = ["| method | what it does | when to use it |", "|---|---|---|"]
    for name, spec in METHODS.items():
        lines.append(f"| `{name}` | {spec.description} | {spec.when_to_use} |")
    return "\n".join(lines)
