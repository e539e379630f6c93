import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from xlt.evaluation import summarise
from xlt.metrics import classification_scores


def test_scores_match_sklearn_and_interval_brackets_estimate():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 500)
    preds = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 3, 500))
    for primary in ("accuracy", "macro_f1"):
        s = classification_scores(labels, preds, 3, primary=primary, n_boot=500)
        assert s["n"] == 500
        assert abs(s["accuracy"] - accuracy_score(labels, preds)) < 1e-12
        assert abs(s["macro_f1"] - f1_score(labels, preds, average="macro")) < 1e-12
        lo, hi = s["ci95"]
        assert lo < s[primary] < hi and hi - lo < 0.15


def test_macro_f1_counts_missing_classes_as_zero_like_sklearn():
    labels, preds = [0, 0, 1, 1], [0, 0, 0, 0]
    s = classification_scores(labels, preds, 3, n_boot=50)
    assert abs(s["macro_f1"] - f1_score(labels, preds, average="macro", labels=[0, 1, 2])) < 1e-12


def test_summary_excludes_sources_from_target_average():
    metrics = {"en": {"accuracy": 0.8}, "fr": {"accuracy": 0.7}, "de": {"accuracy": 0.6}}
    s = summarise(metrics, "accuracy", ["en"])
    assert s["target_languages"] == ["fr", "de"]
    assert abs(s["target_average"] - 0.65) < 1e-12 and abs(s["transfer_gap"] - 0.15) < 1e-12
    assert s["seen_targets"] == []


def test_targets_a_method_saw_data_in_stay_targets():
    """Few-shot and translate-train see some target data: their average is still over the non-source
    languages, so they compare with zero-shot on the same languages; the seen ones are listed."""
    metrics = {"en": {"accuracy": 0.8}, "fr": {"accuracy": 0.7}, "de": {"accuracy": 0.6}}
    s = summarise(metrics, "accuracy", ["en"], ["en", "fr", "de"])
    assert s["target_languages"] == ["fr", "de"] and s["seen_targets"] == ["fr", "de"]
    assert abs(s["target_average"] - 0.65) < 1e-12


def test_metric_modules_load_offline_through_evaluate_and_match_sklearn():
    from xlt.metrics import load_metric

    rng = np.random.default_rng(2)
    labels, preds = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    f1 = load_metric("f1")
    assert abs(load_metric("accuracy").compute(predictions=preds, references=labels)["accuracy"]
               - accuracy_score(labels, preds)) < 1e-12
    for average in ("macro", "micro", "weighted"):
        got = f1.compute(predictions=preds, references=labels, average=average)["f1"]
        assert abs(got - f1_score(labels, preds, average=average)) < 1e-12
    per_label = f1.compute(predictions=[0, 0], references=[0, 1], average=None, labels=[0, 1, 2])["f1"]
    assert np.allclose(per_label, f1_score([0, 1], [0, 0], average=None, labels=[0, 1, 2]))
