"""Accuracy and macro-F1 through `evaluate`, with bootstrap confidence intervals (vectorised numpy)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

METRIC_MODULES = Path(__file__).resolve().parent / "metric_modules"


@cache
def load_metric(name: str):
    """An `evaluate` metric module shipped with xlt (`accuracy`, `f1`): loads offline, same API as the Hub's."""
    import evaluate

    return evaluate.load(str(METRIC_MODULES / name), keep_in_memory=True)


def _macro_f1_from_counts(tp: np.ndarray, pred_count: np.ndarray, true_count: np.ndarray) -> np.ndarray:
    # F1 per class = 2 tp / (predicted + true); classes absent from both count as 0 (sklearn's default)
    denom = pred_count + true_count
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1.mean(axis=-1)


def classification_scores(labels, preds, num_labels: int, n_boot: int = 1000, seed: int = 0,
                          primary: str = "accuracy") -> dict:
    """`{accuracy, macro_f1, n, ci95}`; `ci95` is the 95% percentile bootstrap of `primary`."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return {"accuracy": None, "macro_f1": None, "n": 0, "ci95": None}
    correct = labels == preds
    onehot_true = np.eye(num_labels, dtype=np.float64)[labels]
    onehot_pred = np.eye(num_labels, dtype=np.float64)[preds]
    tp_rows = onehot_true * correct[:, None]

    def score(weights: np.ndarray) -> np.ndarray:  # weights: [b, n] resample counts
        if primary == "accuracy":
            return weights @ correct.astype(np.float64) / n
        return _macro_f1_from_counts(weights @ tp_rows, weights @ onehot_pred, weights @ onehot_true)

    rng = np.random.default_rng(seed)
    boots = []
    for start in range(0, n_boot, 200):  # chunks keep memory at 200 x n
        b = min(200, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        weights = np.zeros((b, n))
        np.add.at(weights, (np.repeat(np.arange(b), n), idx.ravel()), 1.0)
        boots.append(score(weights))
    boots = np.concatenate(boots)
    accuracy = load_metric("accuracy").compute(predictions=preds, references=labels)["accuracy"]
    macro_f1 = load_metric("f1").compute(predictions=preds, references=labels, average="macro",
                                         labels=list(range(num_labels)))["f1"]
    return {
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "n": int(n),
        "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
    }
