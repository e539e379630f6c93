"""F1 as an `evaluate` metric module (offline twin of evaluate-metric/f1, numpy instead of scikit-learn)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "F1 = 2 * precision * recall / (precision + recall), per label, then averaged."
_KWARGS = """
predictions (list of int): predicted labels.
references (list of int): true labels.
average (str): 'macro' (default: unweighted mean over labels), 'micro', 'weighted' or None (per label).
labels (list of int, optional): the labels to score; default: those in either list. A label absent
    from both lists scores 0, as in scikit-learn.
Returns: {"f1": float or list of float}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, average="macro", labels=None):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if labels is None:
            labels = np.union1d(predictions, references)
        labels = np.asarray(labels)
        if len(labels) == 0:
            return {"f1": None}
        tp = np.array([np.sum((predictions == k) & (references == k)) for k in labels], dtype=np.float64)
        predicted = np.array([np.sum(predictions == k) for k in labels], dtype=np.float64)
        true = np.array([np.sum(references == k) for k in labels], dtype=np.float64)
        if average == "micro":
            denom = predicted.sum() + true.sum()
            return {"f1": float(2 * tp.sum() / denom) if denom else 0.0}
        per_label = np.where(predicted + true > 0, 2 * tp / np.maximum(predicted + true, 1), 0.0)
        if average is None:
            return {"f1": per_label.tolist()}
        if average == "weighted":
            return {"f1": float((per_label * true).sum() / true.sum()) if true.sum() else 0.0}
        if average == "macro":
            return {"f1": float(per_label.mean())}
        raise ValueError(f"average must be 'macro', 'micro', 'weighted' or None, got {average!r}")
