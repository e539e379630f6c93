"""Source × target transfer matrices from result records.

A cell (s, t) is the score on target language t of `zero-shot` runs trained on s alone, mean over seeds, with
the seeds' spread (std, n and each seed's value). Runs count together only when they share a setting (model,
protocol, recipe and evaluation sample cap), so a matrix never mixes recipes; the setting with the most source
languages is shown unless one is asked for. The transfer gap of a cell is its score minus the target's own
in-language score (the diagonal cell of the target's column).

A seed counts once per cell: where a setting has several runs of one source and seed (a cell rerun in float32
after a GPU filed it in bf16, or the same cell filed by two machines), the float32 run is used, the newest
first, so a half-precision run stands in only where no float32 run of its seed exists. (Under a registered
protocol that trains in float32, a half-precision run is a setting of its own, "NAME (not followed)", shown
last: `xlt/protocols.py`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import XltError
from ..protocols import NOT_FOLLOWED, protocol_label
from ..results.records import training_precision
from .table import hardware_label

MATRIX_METHOD = "zero-shot"
CELL_COLUMNS = ["task", "model", "setting", "setting_label", "protocol", "source", "target", "seed", "run_id",
                "accuracy", "macro_f1", "n", "hardware", "precision", "created"]


def _setting(record: dict, protocol: str) -> tuple[str, str]:
    """(key, label) of the settings a run shares with the other runs of its matrix (`protocol`: its label)."""
    recipe = record.get("recipe") or ""
    cap = ((record.get("config") or {}).get("train") or {}).get("max_eval_samples")
    key = f"{record['model']}|{protocol}|{recipe}|{cap}"
    label = f"protocol {protocol}" if protocol else f"recipe {recipe or 'default'}"
    if cap:
        label += f", {cap} test rows per language"
    return key, f"{record['model']} · {label}"


def cells_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (run, target language) of the verified, single-source `zero-shot` runs that did not collapse
    (an unverified upload never shapes a matrix; a collapsed run measures a failed training, not transfer)."""
    rows, seen = [], set()
    for r in records:
        if (r.get("method") != MATRIX_METHOD or len(r.get("source_languages") or []) != 1 or r.get("collapsed")
                or r.get("status", "verified") != "verified" or r["run_id"] in seen):
            continue
        seen.add(r["run_id"])
        protocol = protocol_label(r)  # once per run, not per language
        key, label = _setting(r, protocol)
        for lang, m in (r.get("metrics") or {}).items():
            if isinstance(m, dict):
                rows.append({"task": r["task"], "model": r["model"], "setting": key, "setting_label": label,
                             "protocol": protocol, "source": r["source_languages"][0],
                             "target": lang, "seed": r["seed"], "run_id": r["run_id"],
                             "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
                             "n": m.get("n"), "hardware": hardware_label(r),
                             "precision": training_precision(r), "created": r["created"]})
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def matrix_settings(cells: pd.DataFrame, task: str, model: str | None = None,
                    protocol: str | None = None) -> list[tuple[str, str]]:
    """(key, label) of the settings a task's matrix can show, best covered first: most source languages,
    then most target languages, then most runs. `protocol` keeps the settings of that protocol only ("" for
    runs that name none; None: any)."""
    sel = cells[cells["task"] == task]
    if model:
        sel = sel[sel["model"] == model]
    if protocol is not None:
        sel = sel[sel["protocol"] == protocol]
    if sel.empty:
        return []
    stats = sel.groupby(["setting", "setting_label"]).agg(sources=("source", "nunique"),
                                                         targets=("target", "nunique"),
                                                         runs=("run_id", "nunique")).reset_index()
    # a protocol's runs that broke it come last, however many (never the default setting)
    stats["kept"] = ~stats["setting_label"].str.contains(NOT_FOLLOWED, regex=False)
    stats = stats.sort_values(["kept", "sources", "targets", "runs", "setting"],
                              ascending=[False, False, False, False, True])
    return list(zip(stats["setting"], stats["setting_label"]))


@dataclass
class TransferMatrix:
    """Scores of one task and setting: `mean`, `std` and `n` are source × target frames (rows: sources, columns:
    targets; std is 0 for a single seed), `seeds[(s, t)]` the (seed, score) pairs behind a cell and
    `hardware[(s, t)]` where those runs trained (CPU, or the GPU's name), `precision[(s, t)]` in which precisions."""

    task: str
    metric: str
    setting: str
    setting_label: str
    mean: pd.DataFrame
    std: pd.DataFrame
    n: pd.DataFrame
    seeds: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    precision: dict = field(default_factory=dict)
    runs: int = 0
    model: str = ""

    @property
    def sources(self) -> list[str]:
        return list(self.mean.index)

    @property
    def targets(self) -> list[str]:
        return list(self.mean.columns)

    def in_language(self) -> pd.Series:
        """Each target's own score (its diagonal cell), NaN where no run trained on the target."""
        return pd.Series({t: self.mean.at[t, t] if t in self.mean.index else float("nan") for t in self.targets},
                         dtype=float)

    def gap(self) -> pd.DataFrame:
        """Cell minus the target's in-language score (negative: transfer loses that much); NaN without one."""
        return self.mean - self.in_language()

    def long(self) -> pd.DataFrame:
        """One row per measured cell: source, target, score (mean over seeds), std, n."""
        out = self.mean.stack().dropna().rename("score").reset_index()
        out.columns = ["source", "target", "score"]
        out["std"] = [self.std.at[s, t] for s, t in zip(out["source"], out["target"])]
        out["n"] = [int(self.n.at[s, t]) for s, t in zip(out["source"], out["target"])]
        return out


def transfer_matrix(cells: pd.DataFrame, task: str, metric: str | None = None, model: str | None = None,
                    setting: str | None = None, protocol: str | None = None) -> TransferMatrix:
    """The source × target matrix of `task` (XltError when the task has no single-source zero-shot runs).

    Args:
        cells: `cells_frame(records)`.
        task: task name.
        metric: `accuracy` or `macro_f1` (default: the task's metric).
        model: only runs of this model (default: any; the chosen setting fixes one).
        setting: a key from `matrix_settings` (default: the best covered).
        protocol: only runs of this protocol ("" for runs that name none; default: any).
    """
    from ..tasks import TASKS

    if metric in (None, "", "default"):
        metric = TASKS.get(task).metric if task in TASKS else "accuracy"
    if metric not in ("accuracy", "macro_f1"):
        raise XltError(f"metric must be accuracy or macro_f1, got {metric!r}")
    settings = matrix_settings(cells, task, model, protocol)
    if not settings:
        raise XltError(f"no single-source zero-shot runs of task {task!r}"
                       + (f" with model {model!r}" if model else "")
                       + ("" if protocol is None else f" under protocol {protocol!r}" if protocol
                          else " without a protocol") + " yet")
    labels = dict(settings)
    setting = setting or settings[0][0]
    if setting not in labels:
        raise XltError(f"task {task!r} has no runs of setting {setting!r}")
    sel = _one_run_per_seed(cells[(cells["task"] == task) & (cells["setting"] == setting)].dropna(subset=[metric]))
    grouped = sel.groupby(["source", "target"])[metric]
    mean = grouped.mean().unstack()
    std = grouped.std(ddof=1).fillna(0.0).unstack()
    n = grouped.count().unstack()
    sources, targets = _order(mean.index, mean.columns)
    parts = dict(iter(sel.groupby(["source", "target"])))
    seeds = {cell: sorted(zip(part["seed"].tolist(), part[metric].tolist())) for cell, part in parts.items()}
    return TransferMatrix(task=task, metric=metric, setting=setting, setting_label=labels[setting],
                          mean=mean.reindex(index=sources, columns=targets),
                          std=std.reindex(index=sources, columns=targets),
                          n=n.reindex(index=sources, columns=targets).fillna(0).astype(int),
                          seeds=seeds, runs=int(sel["run_id"].nunique()),
                          hardware={cell: sorted(set(part["hardware"])) for cell, part in parts.items()},
                          precision={cell: sorted(set(part["precision"])) for cell, part in parts.items()},
                          model=str(sel["model"].iloc[0]) if len(sel) else "")


def _one_run_per_seed(sel: pd.DataFrame) -> pd.DataFrame:
    """The rows of one run per (source, seed): float32 first, then the newest (see the module docstring)."""
    if sel.empty:
        return sel
    runs = sel.drop_duplicates("run_id").assign(_half=lambda f: f["precision"] != "fp32")
    runs = runs.sort_values(["_half", "created", "run_id"], ascending=[True, False, True])
    kept = set(runs.drop_duplicates(["source", "seed"])["run_id"])
    return sel[sel["run_id"].isin(kept)]


def _order(sources, targets) -> tuple[list[str], list[str]]:
    """Targets sorted; sources in the targets' order first (the diagonal runs down the middle), others after."""
    targets = sorted(targets)
    sources = [t for t in targets if t in set(sources)] + sorted(set(sources) - set(targets))
    return sources, targets
