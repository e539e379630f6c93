"""Leaderboard- and Submit-tab callbacks: tables, figures, refresh, CSV, record upload."""

from __future__ import annotations

import tempfile

import pandas as pd

from ..errors import XltError
from ..leaderboard import figures
from ..leaderboard.matrix import cells_frame, transfer_matrix
from ..leaderboard.table import NO_PROTOCOL, STATUS_BADGES, aggregate_seeds, filter_runs, protocol_choices, runs_frame
from ..results.store import ResultsStore

ALL = "All"
MATRIX_METRICS = [("the task's metric", "default"), ("accuracy", "accuracy"), ("macro-F1", "macro_f1")]
MATRIX_VIEWS = [("score", "score"), ("transfer gap (cell − in-language)", "gap")]
SUMMARY_COLUMNS = ["status", "task", "method", "recipe", "model", "source", "metric", "target_avg", "target_ci95",
                   "premise_shuffled_avg", "transfer_gap", "seed", "hardware", "precision", "eval_n", "flags", "run_id",
                   "command"]


def load_runs(store: ResultsStore) -> tuple[pd.DataFrame, list[str]]:
    runs, _, errors = load_board(store)
    return runs, errors


def load_board(store: ResultsStore) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(runs, transfer-matrix cells, skipped-file messages) from one read of the records."""
    records, errors = store.records()
    return runs_frame(records), cells_frame(records), errors


def filter_choices(runs: pd.DataFrame) -> dict[str, list[str]]:
    choices = {col: [ALL] + sorted(runs[col].dropna().unique().tolist()) if not runs.empty else [ALL]
               for col in ("task", "method", "model", "source")}
    choices["protocol"] = [ALL] + protocol_choices(runs)
    return choices


def _round(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(4)


def leaderboard_table(runs: pd.DataFrame, task=ALL, method=ALL, model=ALL, source=ALL, search="",
                      aggregate=False, show_languages=False, verified_only=False, protocol=ALL) -> pd.DataFrame:
    """The table the tab shows for the chosen filters."""
    sel = filter_runs(runs, task, method, model, source, search, verified_only, protocol)
    if aggregate:
        sel = aggregate_seeds(sel)
        keep = [c for c in ("status", "task", "method", "variant", "recipe", "protocol", "model", "source", "metric",
                            "target_avg", "target_std", "premise_shuffled_avg", "transfer_gap", "seeds")
                if c in sel.columns]
    else:
        keep = [c for c in SUMMARY_COLUMNS if c in sel.columns]
    if show_languages:
        keep += [c for c in sel.columns if c.startswith("lang:")]
    return _round(sel[keep]) if not sel.empty else pd.DataFrame(columns=keep)


def leaderboard_figures(runs: pd.DataFrame, task=ALL, method=ALL):
    """(method comparison, per-language bars, few-shot learning curve) for one task, drawn from the runs the
    filters select; errors become placeholder figures. The transfer matrix is `transfer_view`."""
    if "status" in runs:  # an unverified upload never shapes a figure
        runs = runs[runs["status"] == STATUS_BADGES["verified"]]
    if task in (None, "", ALL):
        task = runs["task"].iloc[0] if not runs.empty else None
    if task is None:
        empty = figures.error_figure("No results yet: train a model or upload a record.")
        return empty, empty, empty
    return figures.method_comparison(runs, task), figures.per_language_bars(runs, task=task), \
        figures.learning_curve(runs, task)


def transfer_view(cells: pd.DataFrame, task=ALL, model=ALL, metric="default", view="score", protocol=ALL):
    """(source × target heatmap, a line about what it shows) for the task, model and protocol the filters name
    (All: the task with the most source languages, the best covered setting). Built from verified
    single-source zero-shot runs only, whatever the method filter says."""
    from ..settings import repo_root

    protocol = None if protocol in (None, "", ALL) else "" if protocol == NO_PROTOCOL else protocol
    if protocol is not None and not cells.empty:
        cells = cells[cells["protocol"] == protocol]
    if cells.empty:
        return figures.error_figure("No single-source zero-shot runs yet: the transfer matrix is empty."
                                    if protocol is None else "No single-source zero-shot runs of this protocol: "
                                    "the transfer matrix is empty."), ""
    if task in (None, "", ALL):
        task = cells.groupby("task")["source"].nunique().sort_values(ascending=False, kind="stable").index[0]
    model = None if model in (None, "", ALL) else model
    try:
        matrix = transfer_matrix(cells, task, metric, model, protocol=protocol)
    except XltError as exc:
        return figures.error_figure(str(exc)), ""
    note = (f"**{task}**: {len(matrix.sources)} source × {len(matrix.targets)} target languages from "
            f"{matrix.runs} verified zero-shot run(s), {matrix.setting_label}. Hover a cell for its seeds.")
    grid = repo_root() / "sweeps" / f"{task}-matrix.yaml"
    if len(matrix.sources) < len(matrix.targets) and grid.is_file():
        note += f" The full matrix comes from `xlt sweep sweeps/{grid.name}`."
    return figures.transfer_heatmap(matrix, "gap" if view == "gap" else "score"), note


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def _inert(value):
    """A text cell as a spreadsheet shows it but never runs it: an uploaded record's text (`=HYPERLINK(...)` as
    its GPU name) gets a leading `'`. Numbers stay numbers (a negative transfer gap is no formula)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_file(table: pd.DataFrame) -> str:
    """The shown table as a CSV file for download (named by its content: the same view reuses one file); text
    from uploads cannot become a formula in the spreadsheet that opens it."""
    import hashlib
    from pathlib import Path

    text = table.map(_inert).to_csv(index=False)
    path = Path(tempfile.gettempdir()) / f"xlt-leaderboard-{hashlib.sha256(text.encode()).hexdigest()[:16]}.csv"
    if not path.is_file():
        path.write_text(text, encoding="utf-8")
    return str(path)


def refresh(store: ResultsStore) -> str:
    """Start a pull from the results repo in the background (never waits on the Hub); the status line."""
    started = store.sync_in_background()
    return ("Pulling from the results repo in the background; the table updates when it is done. "
            if started else "") + store.hub_status()


def upload_record(store: ResultsStore, file_path: str | None, profile=None, oauth_token: str | None = None) -> str:
    """Validate an uploaded record and keep it as "submitted, unverified" (a pull request for signed-in users)."""
    from ..access import username

    if not file_path:
        return "**Error:** choose a result JSON file first."
    user = username(profile)
    try:
        record = store.import_upload(file_path, user=user, oauth_token=oauth_token)
    except XltError as exc:
        return f"**Rejected:** {exc}"
    except OSError as exc:
        return f"**Rejected:** the file could not be read ({type(exc).__name__})."
    lines = [f"Added run `{record['run_id']}` ({record['task']}, {record['method']}) as **submitted, "
             "unverified**: it is listed with that badge until the owner accepts it. Its summary was "
             "recomputed from its per-language metrics."]
    if record.get("pull_request"):
        lines.append(f"Opened a pull request on the results repo: {record['pull_request']}")
    elif record.get("pull_request_error"):
        lines.append(f"The pull request could not be opened ({record['pull_request_error']}); the record stays here.")
    elif user is None and store.repo:
        lines.append("Sign in with Hugging Face to also open a pull request on the results repo.")
    return "\n\n".join(lines)


def accept_record(store: ResultsStore, run_id: str, profile=None) -> str:
    """The owner accepts a submitted record (it then counts as verified and goes to the results repo)."""
    return _review(profile, "accept", lambda: store.accept(run_id),
                   lambda path: f"Accepted `{path.stem.rsplit('__', 1)[-1]}`. {store.push_pending()}")


def reject_record(store: ResultsStore, run_id: str, profile=None) -> str:
    """The owner rejects (deletes) a submitted record."""
    return _review(profile, "reject", lambda: store.reject(run_id),
                   lambda record: f"Rejected and deleted submitted record `{record['run_id']}`. A pull request its "
                                  "uploader opened on the results repo, if any, stays open there: close it on the "
                                  "Hub, or a merge brings the record back.")


def _review(profile, verb: str, act, done) -> str:
    """An owner-only review action on a submitted record, as the page's message."""
    from ..access import is_owner

    if not is_owner(profile):
        return f"**Refused:** only the Space owner can {verb} submitted records."
    try:
        result = act()
    except XltError as exc:
        return f"**Error:** {exc}"
    return done(result)


def rerun_values(store: ResultsStore, run_id: str) -> dict:
    """The launcher's values for re-running a listed record (its exact config). Only a verified record's: an
    unreviewed upload's settings (a Hub model or translator of the uploader's choosing) never fill the owner's
    launcher."""
    from ..config import ExperimentConfig
    from ..results.store import VERIFIED
    from .finetune import form_values

    run_id = (run_id or "").strip()
    records, _ = store.records()
    record = next((r for r in records if r["run_id"] == run_id), None)
    if record is None:
        raise XltError(f"no run {run_id!r} on the leaderboard")
    if record.get("status", VERIFIED) != VERIFIED:
        raise XltError(f"run {run_id!r} is a submitted record nobody has reviewed: it cannot fill the launcher")
    return form_values(ExperimentConfig.from_dict(record["config"]))


def methods_markdown() -> str:
    from ..methods import METHODS

    lines = ["| method | what it does | when to use it | needs |", "|---|---|---|---|"]
    for name, spec in METHODS.items():
        lines.append(f"| `{name}` | {spec.description} | {spec.when_to_use} | {', '.join(spec.needs) or '-'} |")
    return "\n".join(lines)
