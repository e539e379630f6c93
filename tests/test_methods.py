"""Shipped transfer methods on a tiny model (plumbing only: never reported numbers)."""

from dataclasses import replace

import pytest

from xlt.config import ExperimentConfig, TrainConfig
from xlt.errors import XltError
from xlt.experiment import run_and_file, validate

TINY = dict(max_eval_samples=8, epochs=1, batch_size=8, max_length=32, learning_rate=1e-3, save_steps=2)


def cfg(model_dir, method, options=None, sources=("en",), task="sentiment", targets=("en", "de", "fr"), **train):
    return ExperimentConfig(task=task, method=method, model=str(model_dir), source_languages=list(sources),
                            target_languages=list(targets), method_options=options or {},
                            train=TrainConfig(**{**TINY, "max_train_samples": 24, **train}))


def test_few_shot_continue_reuses_the_zero_shot_source_run(tiny_model_dir, tmp_path):
    config = cfg(tiny_model_dir, "few-shot", {"shot_languages": ["de"], "shots": 6, "shot_epochs": 2})
    record = run_and_file(config, results_dir=tmp_path / "r", output_dir=tmp_path / "run", show_progress=False)
    assert record["seen_languages"] == ["en", "de"] and record["summary"]["target_languages"] == ["de", "fr"]
    assert record["summary"]["seen_targets"] == ["de"]
    assert record["training"]["train_examples"] == 6 and record["training"]["source_stage"]["train_examples"] == 24
    # the source stage lives where the zero-shot run of the same settings keeps its checkpoints
    zero = cfg(tiny_model_dir, "zero-shot")
    from xlt.settings import home_dir

    assert (home_dir() / "runs" / zero.fingerprint() / "checkpoints").is_dir()
    again = run_and_file(zero, results_dir=tmp_path / "r2", show_progress=False)
    assert again["training"]["resumed_from_checkpoint"]  # nothing trained twice


def test_few_shot_samples_balanced_shots_and_keeps_parallel_rows_apart(data_dir):
    from xlt.data import load_split
    from xlt.experiment import validate
    from xlt.methods import get_method
    from xlt.methods.few_shot import sample_shots
    from xlt.tasks import get_task

    ds = load_split(get_task("sentiment"), "de", "train", data_dir)
    shots = sample_shots(ds, 9, 3, seed=1, balanced=True)
    assert sorted(shots["label"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    config = ExperimentConfig(task="nli", method="few-shot", source_languages=["en"], target_languages=["de"],
                              method_options={"shots": 30}, train=TrainConfig(max_train_samples=None))
    v = validate(config)
    ctx = v.context(".", data_dir=data_dir)
    method = get_method("few-shot")
    pool = set(method._pool(2490, 500))
    source = method._source_data(ctx)
    shots = method._shots(ctx)
    assert len(source) == 2490 - 500 and len(shots) == 30
    en = load_split(get_task("nli"), "en", "validation", data_dir)
    held_out = {(en[i]["premise"], en[i]["hypothesis"]) for i in pool}
    used = set(zip(source["premise"], source["hypothesis"]))
    assert not held_out & used  # no shot row is a translation of a source row (row indices are disjoint)


@pytest.mark.parametrize("options, message", [
    ({"shot_languages": ["xx"]}, "not languages"), ({"shots": 2000}, "more than"), ({"mode": "other"}, "mode"),
    ({"shots": -1}, "shots must be"),
])
def test_few_shot_bad_options_are_refused_before_training(options, message):
    with pytest.raises(XltError, match=message):
        validate(ExperimentConfig(task="sentiment", method="few-shot", target_languages=["de"],
                                  method_options=options))


def test_shots_are_counted_over_joined_splits_and_never_come_from_test(data_dir):
    from xlt.data import load_split
    from xlt.methods.few_shot import sample_shots
    from xlt.tasks import get_task

    rows = sum(len(load_split(get_task("sentiment"), "de", split, data_dir)) for split in ("train", "validation"))
    joined = ExperimentConfig(task="sentiment", method="few-shot", target_languages=["de"],
                              train_split="train+validation", method_options={"shots": rows + 1})
    with pytest.raises(XltError, match=f"shots={rows + 1} is more than the {rows} labelled de rows"):
        validate(joined)
    validate(replace(joined, method_options={"shots": rows}))
    for split, eval_split in (("test", None), ("train+test", None), ("validation", "validation")):
        with pytest.raises(XltError, match="includes the evaluation split"):
            validate(ExperimentConfig(task="sentiment", method="few-shot", target_languages=["de"],
                                      train_split=split, eval_split=eval_split, method_options={"shots": 10}))
    with pytest.raises(XltError, match="shots=50 is more than the 9 labelled rows"):  # data validate cannot count
        sample_shots(load_split(get_task("sentiment"), "de", "train", data_dir).select(range(9)), 50, 3, 1, True)


def test_multi_source_balanced_budget(tiny_model_dir, tmp_path):
    config = cfg(tiny_model_dir, "multi-source", {"sampling": "balanced", "budget": 12}, sources=("en", "de", "es"),
                 targets=("fr",), max_train_samples=None)
    record = run_and_file(config, results_dir=tmp_path / "r", output_dir=tmp_path / "run", show_progress=False)
    assert record["training"]["train_examples"] == 12 and record["seen_languages"] == ["en", "de", "es"]
    with pytest.raises(XltError, match="at least two source"):
        validate(cfg(tiny_model_dir, "multi-source"))


def test_premise_shuffled_control_is_reported_for_pair_tasks(tiny_model_dir, tmp_path, data_dir):
    config = cfg(tiny_model_dir, "zero-shot", task="nli", targets=("en", "de"))
    record = run_and_file(config, results_dir=tmp_path / "r", output_dir=tmp_path / "run", show_progress=False,
                          premise_control=True)
    for lang in ("en", "de"):
        assert 0 <= record["metrics"][lang]["premise_shuffled_accuracy"] <= 1
    # parallel files: the protocol's subset is the same rows in every language, and the record says which
    assert record["metrics"]["en"]["rows"] == record["metrics"]["de"]["rows"]
    assert record["metrics"]["en"]["rows"].startswith("sha256:")
    from xlt.leaderboard.table import aggregate_seeds, runs_frame

    runs = runs_frame([record])  # the leaderboard shows the control beside the target average
    assert runs["premise_shuffled_avg"][0] == record["metrics"]["de"]["premise_shuffled_accuracy"]
    assert aggregate_seeds(runs)["premise_shuffled_avg"][0] == runs["premise_shuffled_avg"][0]


def test_the_premise_control_scores_the_same_pairs_with_premises_permuted(data_dir):
    import numpy as np

    from xlt.data import load_split, subset_rows
    from xlt.evaluation import evaluate_languages
    from xlt.tasks import get_task

    task = get_task("nli")
    full = load_split(task, "de", task.eval_split, data_dir)
    rows = full.select(subset_rows(len(full), 30, 0))
    gold = {(r["premise"], r["hypothesis"]): r["label"] for r in rows}
    calls = []

    class Oracle:  # right on every original pair, class 0 on a pair it has not seen
        def predict_proba(self, first, second, lang=None, batch_size=64, progress=None):
            calls.append((list(first), list(second)))
            return np.eye(3)[[gold.get(pair, 0) for pair in zip(first, second)]]

    metrics = evaluate_languages(Oracle(), task, ["de"], data_dir=data_dir, max_samples=30,
                                 show_progress=False, premise_control=True)
    (premises, hypotheses), (shuffled, same_hypotheses) = calls
    assert same_hypotheses == hypotheses and sorted(shuffled) == sorted(premises) and shuffled != premises
    assert sum(a == b for a, b in zip(premises, shuffled)) < 5  # nearly every pair loses its premise
    assert metrics["de"]["n"] == 30 and metrics["de"]["accuracy"] == 1.0
    expected = np.mean([gold.get((s, h), 0) == gold[(p, h)] for p, s, h in zip(premises, shuffled, hypotheses)])
    assert expected < 1.0 and metrics["de"]["premise_shuffled_accuracy"] == pytest.approx(expected)


def test_the_source_stage_reuses_the_zero_shot_run_with_or_without_targets(tmp_path, monkeypatch):
    """A translate-test cell scored on es and fr reuses the protocol's zero-shot run (all languages)."""
    from types import SimpleNamespace

    from xlt.methods.base import zero_shot_run_folder

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    cell = ExperimentConfig(task="nli", method="translate-test", target_languages=["en", "es", "fr"],
                            method_options={"translator": "apertium"})
    ctx = SimpleNamespace(experiment=cell)
    same = ExperimentConfig(task="nli", method="zero-shot", target_languages=["en", "es", "fr"])
    protocol = ExperimentConfig(task="nli", method="zero-shot")
    runs = tmp_path / "runs"
    assert zero_shot_run_folder(ctx) == runs / same.fingerprint()  # nothing yet: its own
    (runs / protocol.fingerprint()).mkdir(parents=True)
    assert zero_shot_run_folder(ctx) == runs / protocol.fingerprint()
    (runs / same.fingerprint()).mkdir()
    assert zero_shot_run_folder(ctx) == runs / same.fingerprint()  # the closest run first
