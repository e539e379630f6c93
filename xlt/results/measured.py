"""What a trained model scored on held-out test data, per language, read back from its own record.

Predict shows it beside each answer ("measured accuracy in German: 0.64"), so a visitor can tell a
confident answer from a reliable one. The record is found by the model's `run_id` among the committed
records (`leaderboard/results/<task>/`) and the user's results store (`$XLT_HOME/results/<task>/`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..settings import home_dir, repo_root
from .records import read_record


def record_folders(task: str) -> list[Path]:
    return [repo_root() / "leaderboard" / "results" / task, home_dir() / "results" / task]


_FOUND: dict[tuple[str, str], dict] = {}
_LOCK = threading.Lock()  # many visitors predict at once; the eviction below must not race


def measured_scores(task: str, run_id: str | None) -> dict:
    """{language: {"metric", "value", "ci95", "n"}} from the record of `run_id` ({} when there is none).

    A record, once found, is kept (records are immutable); a miss is not, so a model whose record is
    filed later (a job that just finished) gets its note without a restart."""
    key = (task, run_id or "")
    with _LOCK:
        if key in _FOUND:
            return _FOUND[key]
    scores = _read_scores(task, run_id)
    if scores:
        with _LOCK:
            if len(_FOUND) >= 64:
                _FOUND.pop(next(iter(_FOUND)))
            _FOUND[key] = scores
    return scores


measured_scores.cache_clear = _FOUND.clear  # the tests' handle, as with functools' caches


def _read_scores(task: str, run_id: str | None) -> dict:
    if not run_id or not task or any(c in run_id for c in "/\\*?[") or any(c in task for c in "/\\*?["):
        return {}
    for folder in record_folders(task):
        for path in sorted(folder.glob(f"*{run_id}.json")) if folder.is_dir() else []:
            try:
                record = read_record(path)
            except Exception:  # noqa: BLE001 - a damaged record just means no measured note
                continue
            if record.get("run_id") != run_id:
                continue
            metric = (record.get("summary") or {}).get("metric") or "accuracy"
            return {lang: {"metric": metric, "value": m[metric], "ci95": m.get("ci95"), "n": m.get("n")}
                    for lang, m in (record.get("metrics") or {}).items()
                    if isinstance(m, dict) and isinstance(m.get(metric), (int, float))}
    return {}


def measured_note(scores: dict, lang: str, language_name: str) -> str | None:
    """One line for Predict: the model's measured score on this language's test data, or None."""
    m = scores.get(lang)
    if not m:
        return None
    ci = m.get("ci95")
    interval = f", 95% CI {ci[0]:.2f}–{ci[1]:.2f}" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
    n = f" on {m['n']:,} test examples" if m.get("n") else ""
    metric = m["metric"].replace("_", "-").replace("macro-f1", "macro-F1")
    return f"Measured {metric} of this model in {language_name}: {m['value']:.2f}{interval}{n}."
