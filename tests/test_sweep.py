"""`xlt sweep`: a grid validated up front, run cell by cell, skipped once done."""

import time
from pathlib import Path

import pytest
import yaml

from xlt import cli
from xlt.errors import XltError
from xlt.results.records import read_records
from xlt.sweep import prepare


def write_grid(path, model_dir, results):
    path.write_text(yaml.safe_dump({
        "protocol": "test-v0", "results_dir": str(results),
        "base": {"task": "sentiment", "model": str(model_dir), "target_languages": ["en", "de"],
                 "train": {"finetune": "full", "max_train_samples": 16, "max_eval_samples": 8, "epochs": 1,
                           "batch_size": 8, "max_length": 32, "learning_rate": 1e-3}},
        "grid": {"seed": [1, 2]},
        "cells": [{"method": "zero-shot"}, {"method": "few-shot", "method_options": {"shots": 3}}],
    }))


def test_a_grid_runs_once_and_then_skips_every_cell(tiny_model_dir, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    write_grid(grid, tiny_model_dir, tmp_path / "results")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 cells, 0 already done, protocol test-v0" in out and out.count(": to run") == 4
    assert cli.main(["sweep", str(grid), "--no-progress"]) == 0
    records, _ = read_records(tmp_path / "results")
    assert sorted((r["method"], r["seed"]) for r in records) == [("few-shot", 1), ("few-shot", 2),
                                                                  ("zero-shot", 1), ("zero-shot", 2)]
    assert {r["protocol"] for r in records} == {"test-v0"}
    assert all(r["command"].endswith(" --protocol test-v0") for r in records)  # the command re-runs it as filed
    capsys.readouterr()
    start = time.monotonic()
    assert cli.main(["sweep", str(grid), "--no-progress"]) == 0
    assert time.monotonic() - start < 10
    assert "4 cells, 4 already done" in capsys.readouterr().out
    assert len(read_records(tmp_path / "results")[0]) == 4  # nothing ran twice


def test_time_estimate_comes_from_records_of_the_same_method_and_sources(monkeypatch):
    """A few-shot record (70 examples) must not size a zero-shot cell (1,839 examples)."""
    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig

    def record(method, sources, examples, seconds):
        return {"task": "sentiment", "method": method, "hardware": {"device": "cpu"}, "train_seconds": seconds,
                "training": {"train_examples": examples, "eval_seconds": 60.0},
                "config": {"source_languages": sources, "train": {"epochs": 6.0}}}

    records = [record("few-shot", ["en"], 70, 100.0), record("zero-shot", ["ar"], 1000, 600.0),
               record("zero-shot", ["en"], 1839, 600.0)]
    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    cell = ExperimentConfig(task="sentiment", method="zero-shot", source_languages=["en"])
    assert sweep_module._similar_records(records, cell) == [records[2]]
    other = ExperimentConfig(task="sentiment", method="code-switch", source_languages=["en"])
    assert sweep_module._similar_records(records, other) == [records[2]]  # zero-shot on the same sources
    assert sweep_module._similar_records(records[:2], other) == [records[0]]  # else any run on them
    assert sweep_module._similar_records(records + [dict(records[2], task="nli")], cell) == [records[2]]
    # on a GPU, a float32 cell is timed by the float32 runs there, not the (faster) bf16 ones, where there are any
    monkeypatch.setattr(sweep_module, "_device", lambda: "cuda")
    bf16, fp32 = (dict(records[2], hardware={"device": "cuda"}, training={**records[2]["training"], "precision": p})
                  for p in ("bf16", "fp32"))
    in_fp32 = ExperimentConfig(task="sentiment", method="zero-shot", source_languages=["en"])
    in_fp32.train.precision = "fp32"
    assert sweep_module._similar_records([bf16, fp32], in_fp32) == [fp32]
    assert sweep_module._similar_records([bf16], in_fp32) == [bf16]
    assert sweep_module._similar_records([bf16, fp32], cell) == [bf16, fp32]
    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    resumed = dict(records[2], training={"train_examples": 1839, "resumed_from_checkpoint": "checkpoint-690"})
    assert sweep_module._similar_records([resumed, records[1]], cell) == [records[1]]  # 1 s of a finished run
    # since training time is kept in checkpoints, a resumed run's train_seconds is the whole training's
    timed = dict(records[2], training={"train_examples": 1839, "resumed_from_checkpoint": "checkpoint-690",
                                       "train_seconds_this_run": 1.0})
    assert sweep_module._similar_records([timed, records[1]], cell) == [timed]
    partial = dict(timed, training={**timed["training"], "train_seconds_partial": True})  # an older checkpoint
    assert sweep_module._similar_records([partial, records[1]], cell) == [records[1]]
    # an embedding pass is timed by another embedding pass where the method has no record of its own, not by
    # fine-tuning: embedding-alignment on the frozen classifier by frozen-embedding, on the fine-tuned one as before
    frozen = record("frozen-embedding", ["en"], 1839, 22.0)
    aligned = ExperimentConfig(task="sentiment", method="embedding-alignment", source_languages=["en"])
    assert sweep_module._similar_records([*records, frozen], aligned) == [frozen]
    aligned.method_options = {"classifier": "fine-tuned"}
    assert sweep_module._similar_records([*records, frozen], aligned) == [records[2]]
    # nor does the method's own embedding pass time its fine-tuning: records of another cost are another method
    own_frozen = record("embedding-alignment", ["en"], 1839, 25.0)  # no options: the frozen classifier
    assert sweep_module._similar_records([*records, frozen, own_frozen], aligned) == [records[2]]
    aligned.method_options = {}
    assert sweep_module._similar_records([*records, frozen, own_frozen], aligned) == [own_frozen]


def test_time_estimate_takes_the_least_disturbed_record(monkeypatch, tmp_path):
    """Records time wall-clock: a run paused for an hour says nothing about how long the next cell takes."""
    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig

    def record(seconds, evaluation):
        return {"task": "sentiment", "method": "zero-shot", "hardware": {"device": "cpu"}, "train_seconds": seconds,
                "training": {"train_examples": 1000, "eval_seconds": evaluation},
                "config": {"task": "sentiment", "method": "zero-shot", "source_languages": ["en"],
                           "train": {"epochs": 2.0, "max_train_samples": 1000}}}

    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    monkeypatch.setattr("xlt.results.records.read_records", lambda folder: ([record(6000.0, 900.0),
                                                                             record(600.0, 60.0),
                                                                             record(3000.0, 80.0)], []))
    cell = ExperimentConfig(task="sentiment", method="zero-shot", source_languages=["en"])
    cell.train.epochs, cell.train.max_train_samples = 4.0, 1000
    sweep = sweep_module.Sweep("grid", [cell], "test-v0", tmp_path, "")
    sweep.skipped = {}
    # 0.3 s per example-epoch (the fastest run) × 1,000 examples × 4 epochs, plus its 60 s of evaluation
    assert sweep_module.estimate_seconds(sweep) == pytest.approx(0.3 * 1000 * 4 + 60.0)
    # a cell that trains on more: English plus its translations into four languages, five times the rows
    bigger = ExperimentConfig(task="sentiment", method="translate-train-all", source_languages=["en"],
                              target_languages=["en", "es", "fr", "it", "pt"],
                              method_options={"translator": "apertium"})
    bigger.train.epochs, bigger.train.max_train_samples = 4.0, 1000
    sweep = sweep_module.Sweep("grid", [bigger], "test-v0", tmp_path, "")
    sweep.skipped = {}
    assert sweep_module.estimate_seconds(sweep) == pytest.approx(0.3 * 5 * 1000 * 4 + 60.0)


def test_a_grid_filing_in_a_folder_of_its_own_is_timed_from_the_stores_records(monkeypatch, tmp_path):
    """A diagnostic grid (its own results_dir, nothing filed there yet) is estimated from the committed records."""
    from types import SimpleNamespace

    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig
    from xlt.results.store import VERIFIED

    record = {"task": "sentiment", "method": "zero-shot", "hardware": {"device": "cpu"}, "train_seconds": 600.0,
              "run_id": "r1", "training": {"train_examples": 1000, "eval_seconds": 60.0},
              "config": {"task": "sentiment", "method": "zero-shot", "source_languages": ["en"],
                         "train": {"epochs": 2.0, "max_train_samples": 1000}}}
    own, committed = tmp_path / "diagnostic", tmp_path / "committed"
    own.mkdir()
    committed.mkdir()
    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    monkeypatch.setattr("xlt.results.records.read_records",
                        lambda folder: ([record], []) if Path(folder) == committed else ([], []))
    monkeypatch.setattr(sweep_module, "_store", lambda: SimpleNamespace(
        sources=lambda: [(committed, VERIFIED), (tmp_path / "uploads", "submitted")]))
    cell = ExperimentConfig(task="sentiment", method="zero-shot", source_languages=["en"])
    cell.train.epochs, cell.train.max_train_samples = 4.0, 1000
    sweep = sweep_module.Sweep("control", [cell], None, own, "")
    sweep.skipped = {}
    assert sweep_module.estimate_seconds(sweep) == pytest.approx(0.3 * 1000 * 4 + 60.0)
    assert sweep_module.done_index(sweep) == {}  # the committed record times the cell; it does not stand for it


def test_evaluation_time_scales_with_the_rows_a_cell_scores(monkeypatch, tmp_path, data_dir):
    """A record that scored 15 languages twice (premise control) must not size the evaluation of a cell on 3."""
    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig

    langs = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
    record = {"task": "nli", "method": "zero-shot", "hardware": {"device": "cpu"}, "train_seconds": 100.0,
              "training": {"train_examples": 100, "eval_seconds": 900.0},
              "metrics": {lang: {"n": 100, "accuracy": 0.5, "premise_shuffled_accuracy": 0.4} for lang in langs},
              "config": {"task": "nli", "method": "zero-shot", "source_languages": ["en"],
                         "train": {"epochs": 1.0, "max_train_samples": 100}}}
    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    monkeypatch.setattr("xlt.results.records.read_records", lambda folder: ([record], []))
    monkeypatch.setattr(sweep_module, "train_size", lambda config, remaining=False: 0.0)

    def estimate(targets, premise_control):
        cell = ExperimentConfig(task="nli", method="zero-shot", source_languages=["en"], target_languages=targets)
        cell.train.max_eval_samples = 100
        sweep = sweep_module.Sweep("grid", [cell], "test-v0", tmp_path, "", premise_control=premise_control)
        sweep.skipped = {}
        return sweep_module.estimate_seconds(sweep)

    assert estimate(langs, True) == pytest.approx(900.0)  # 3,000 scored rows, 0.3 s each
    assert estimate(["en", "es", "fr"], True) == pytest.approx(900.0 / 5)
    assert estimate(langs, False) == pytest.approx(450.0)  # each row scored once


def test_each_method_counts_its_training_size_without_building_the_data(data_dir):
    from xlt.config import ExperimentConfig
    from xlt.sweep import train_size

    def size(method, sources=("en",), targets=None, **options):
        config = ExperimentConfig(task="nli", method=method, source_languages=list(sources), target_languages=targets,
                                  method_options=options)
        config.train.epochs = 2.0
        return train_size(config, data_dir)

    rows = sum(1 for line in open(data_dir / "xnli" / "validation" / "en.jsonl") if line.strip())
    assert size("zero-shot") == rows * 2 and size("multi-source", ("en", "de")) == 2 * rows * 2
    assert size("translate-train-all") == 15 * rows * 2  # English and its 14 translations
    assert size("translate-train", targets=["de", "sw"]) == 2 * rows * 2  # the translations only
    assert size("code-switch", copies=2) == 3 * rows * 2  # the original and two switched copies
    # few-shot: the source without the shots' pool, every epoch, then K × 14 languages for shot_epochs
    assert size("few-shot", shots=100) == (rows - 500) * 2 + 100 * 14 * 10
    assert size("pretrained") == 0.0
    # the cap applies where training applies it: few-shot after holding out the pool, multi-source after balancing
    capped = ExperimentConfig(task="nli", method="few-shot", source_languages=["en"], method_options={"shots": 100})
    capped.train.epochs, capped.train.max_train_samples = 2.0, 1000
    assert train_size(capped, data_dir) == 1000 * 2 + 100 * 14 * 10
    balanced = ExperimentConfig(task="sentiment", method="multi-source", source_languages=["en", "de"],
                                method_options={"sampling": "balanced", "budget": 1000})
    balanced.train.epochs = 1.0
    assert train_size(balanced, data_dir) == 1000


def test_cells_whose_shared_zero_shot_run_is_trained_are_sized_by_what_is_left(data_dir):
    """translate-test trains (or resumes) the zero-shot run of its settings, few-shot on tweets starts from it:
    once that run's last checkpoint is there, the estimate counts no source training for them (a record's own
    time is still sized by both stages)."""
    import json

    from xlt.config import ExperimentConfig
    from xlt.settings import home_dir
    from xlt.sweep import train_size

    test = ExperimentConfig(task="sentiment", method="translate-test", source_languages=["en"],
                            target_languages=["en", "es"], method_options={"translator": "dictionary"})
    shots = ExperimentConfig(task="sentiment", method="few-shot", source_languages=["en"],
                             target_languages=["en", "es"], method_options={"shots": 10})
    zero = ExperimentConfig(task="sentiment", method="zero-shot", source_languages=["en"],
                            target_languages=["en", "es"])
    rows = sum(1 for line in open(data_dir / "sentiment" / "train" / "en.jsonl") if line.strip())
    epochs = zero.train.epochs
    assert train_size(test, data_dir, remaining=True) == train_size(test, data_dir) == rows * epochs
    assert train_size(shots, data_dir, remaining=True) == rows * epochs + 10 * 10
    checkpoint = home_dir() / "runs" / zero.fingerprint() / "checkpoints" / "checkpoint-40"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 30, "max_steps": 40}))
    assert train_size(test, data_dir, remaining=True) == rows * epochs  # stopped half way: still to train
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 40, "max_steps": 40}))
    assert train_size(test, data_dir, remaining=True) == 0.0
    assert train_size(shots, data_dir, remaining=True) == 10 * 10  # the shots' stage only
    assert train_size(test, data_dir) == rows * epochs  # what a record of it timed


def test_without_local_data_the_estimate_falls_back_instead_of_failing(monkeypatch, tmp_path):
    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig

    monkeypatch.setenv("XLT_DATA_DIR", "")  # a Space reading the Hub's data
    monkeypatch.setattr("xlt.settings.data_dir", lambda: None)
    cell = ExperimentConfig(task="sentiment", method="translate-train-all", source_languages=["en"],
                            method_options={"translator": "apertium"})
    assert sweep_module.train_size(cell) is None
    record = {"task": "sentiment", "method": "zero-shot", "hardware": {"device": "cpu"}, "train_seconds": 600.0,
              "training": {"train_examples": 1000, "eval_seconds": 60.0},
              "config": {"task": "sentiment", "method": "zero-shot", "source_languages": ["en"],
                         "train": {"epochs": 2.0}}}
    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    monkeypatch.setattr("xlt.results.records.read_records", lambda folder: ([record], []))
    sweep = sweep_module.Sweep("grid", [cell], "test-v0", tmp_path, "")
    sweep.skipped = {}
    cell.train.epochs = 2.0
    assert sweep_module.estimate_seconds(sweep) == pytest.approx(600.0 + 60.0)  # sized like the closest record


def test_shards_split_a_grid_without_overlap(tiny_model_dir, tmp_path, capsys):
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"
    write_grid(grid, tiny_model_dir, tmp_path / "results")
    whole = [c.fingerprint() for c in prepare(grid).cells]
    first, second = prepare(grid, (1, 2)), prepare(grid, (2, 2))
    assert first.name == "grid.shard1of2" and len(whole) == 4
    assert sorted(c.fingerprint() for c in first.cells + second.cells) == sorted(whole)
    assert not {c.fingerprint() for c in first.cells} & {c.fingerprint() for c in second.cells}
    for bad in ("0/2", "3/2", "1", "a/b", "1/0"):
        assert cli.main(["sweep", str(grid), "--shard", bad, "--dry-run"]) == 2
        assert "--shard takes K/N with 1 <= K <= N" in capsys.readouterr().err
    assert cli.main(["sweep", str(grid), "--shard", "2/2", "--dry-run"]) == 0
    assert "2 cells" in capsys.readouterr().out


def test_only_keeps_the_matching_cells_before_sharding(tiny_model_dir, tmp_path, capsys):
    from xlt.sweep import parse_only, prepare

    grid = tmp_path / "grid.yaml"
    write_grid(grid, tiny_model_dir, tmp_path / "results")
    few = prepare(grid, only=parse_only(["method=few-shot"]))
    assert few.name == "grid.only" and [(c.method, c.train.seed) for c in few.cells] == [("few-shot", 1),
                                                                                          ("few-shot", 2)]
    both = prepare(grid, only=parse_only(["method=few-shot,zero-shot", "seed=2"]))
    assert sorted(c.method for c in both.cells) == ["few-shot", "zero-shot"]
    assert {c.train.seed for c in both.cells} == {2}
    assert len(prepare(grid, (2, 2), parse_only(["method=few-shot"])).cells) == 1
    assert len(prepare(grid, only=parse_only(["source=en", "target=en+de"])).cells) == 4
    assert cli.main(["sweep", str(grid), "--only", "method=zero-shot", "--dry-run"]) == 0
    assert "2 cells" in capsys.readouterr().out
    for bad, message in (("method", "--only takes KEY=VALUE"), ("colour=red", "--only takes KEY=VALUE"),
                         ("seed=", "--only takes KEY=VALUE"), ("method=translate-test", "no cell of grid matches")):
        assert cli.main(["sweep", str(grid), "--only", bad, "--dry-run"]) == 2
        assert message in capsys.readouterr().err


def test_only_the_cells_to_run_are_validated_and_results_dir_is_relative_to_the_grid(tiny_model_dir, tmp_path,
                                                                                     capsys, monkeypatch):
    """A machine that cannot run some cells (no Apertium, say) still runs the others with --only."""
    from xlt.sweep import prepare

    (tmp_path / "grids").mkdir()
    grid = tmp_path / "grids" / "grid.yaml"
    write_grid(grid, tiny_model_dir, "../results")
    data = yaml.safe_load(grid.read_text())
    data["cells"].append({"method": "translate-train", "target_languages": ["de"],
                          "method_options": {"translator": "babelfish"}})
    grid.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path / "grids")  # results_dir must not follow the working directory
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "unknown translator 'babelfish'" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", str(grid), "--only", "method=zero-shot", "--dry-run"]) == 0
    assert "2 cells, 0 already done" in capsys.readouterr().out
    assert prepare(grid, only={"method": {"zero-shot"}}).results_dir == tmp_path / "results"


def test_a_cell_may_not_set_what_the_grid_crosses_and_premise_control_is_a_boolean(tiny_model_dir, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    write_grid(grid, tiny_model_dir, tmp_path / "results")
    data = yaml.safe_load(grid.read_text())
    data["cells"][0]["seed"] = 7  # the grid crosses seed: the cell's value would be silently replaced
    grid.write_text(yaml.safe_dump(data))
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "cell 1 sets train.seed, which 'grid' also crosses" in capsys.readouterr().err
    for cell, grid_key, values in (({"train": {"seed": 7}}, "seed", [1, 2]),
                                   ({"method_options": {"shots": 5}}, "method_options.shots", [3, 4]),
                                   ({"method_options": {"shots": 5}}, "method_options", [{"shots": 3}])):
        spelled = {**data, "grid": {grid_key: values}, "cells": [{"method": "few-shot", **cell}]}
        grid.write_text(yaml.safe_dump(spelled))
        assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
        assert "which 'grid' also crosses" in capsys.readouterr().err
    del data["cells"][0]["seed"]
    grid.write_text(yaml.safe_dump({**data, "premise_control": "yes"}))
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "premise_control must be true or false" in capsys.readouterr().err


def test_default_options_spelled_out_are_the_same_cell(tiny_model_dir, tmp_path, capsys):
    """`shots: 10` is few-shot's default: the same cell (and the same record) as no option at all."""
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"
    write_grid(grid, tiny_model_dir, tmp_path / "results")
    data = yaml.safe_load(grid.read_text())
    data["cells"] = [{"method": "few-shot"}, {"method": "few-shot", "method_options": {"shots": 10}}]
    grid.write_text(yaml.safe_dump(data))
    sweep = prepare(grid)
    assert len(sweep.cells) == 2 and all(c.method_options == {} for c in sweep.cells)  # 2 seeds, one cell each
    assert len(prepare(grid, only={"option.shots": {"10"}}).cells) == 2  # --only sees the default value
    data["cells"] = [{"method": "few-shot", "method_options": {"shotz": 10}}]
    grid.write_text(yaml.safe_dump(data))
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "grid cell 1 (few-shot)" in capsys.readouterr().err


def record_of(config, run_id):
    """A valid record of a cell, as another process or a Job would have filed it (no training)."""
    from tests.test_records import make_record

    return make_record(task=config.task, method=config.method, config=config.to_dict(), seed=config.train.seed,
                       config_fingerprint=config.fingerprint(), source_languages=config.source_languages,
                       run_id=f"{config.fingerprint()}-{run_id}")


def plain_grid(path, **settings):
    path.write_text(yaml.safe_dump({"base": {"task": "sentiment", "train": {"epochs": 1.0}},
                                    "grid": {"seed": [1, 2]}, **settings}))
    return path


def test_records_committed_or_pulled_from_the_results_repo_count_as_done(tmp_path, monkeypatch):
    """Without results_dir every folder the results store reads verified records from counts; with Jobs, the copy
    pulled from the results repo counts beside results_dir."""
    from xlt import sweep as sweep_module
    from xlt.results.records import write_record
    from xlt.results.store import ResultsStore

    store = ResultsStore(committed_dir=tmp_path / "committed")
    monkeypatch.setattr(sweep_module, "_store", lambda: store)
    grid = plain_grid(tmp_path / "grid.yaml")
    first, second = sweep_module.prepare(grid).cells
    write_record(record_of(first, "20260101T000000"), store.committed_dir)
    write_record(record_of(second, "20260101T000001"), store.hub_dir)  # what `store.sync()` pulled
    write_record(record_of(second, "20260101T000002"), store.submitted_dir / "anonymous")  # unverified: not it
    assert set(sweep_module.prepare(grid).skipped) == {first.fingerprint(), second.fingerprint()}
    filed = plain_grid(tmp_path / "filed.yaml", results_dir="results")
    assert set(sweep_module.prepare(filed).skipped) == set()
    assert set(sweep_module.prepare(filed, hub_data=True).skipped) == {second.fingerprint()}


def fake_run(ran, fail=()):
    """A stand-in for `run_and_file`: notes the seed it was asked for, raises for the seeds in `fail`."""
    def run_and_file(config, **kwargs):
        ran.append(config.train.seed)
        if config.train.seed in fail:
            raise fail[config.train.seed]
        record = record_of(config, "20260101T000009")
        return {**record, "summary": {"target_average": 0.5}, "train_seconds": 1.0, "path": "x"}
    return run_and_file


def test_a_cell_filed_by_another_process_while_the_sweep_runs_is_not_trained_again(tmp_path, monkeypatch):
    from xlt.results.records import write_record
    from xlt.sweep import prepare, run_sweep

    sweep = prepare(plain_grid(tmp_path / "grid.yaml", results_dir="results"))
    write_record(record_of(sweep.cells[0], "20260101T000000"), tmp_path / "results")  # a second sweep filed it
    ran, lines = [], []
    monkeypatch.setattr("xlt.experiment.run_and_file", fake_run(ran))
    run_sweep(sweep, log=lines.append)
    assert ran == [2] and len(sweep.skipped) == 2
    assert any("filed while this sweep ran" in line for line in lines)


def test_an_unexpected_error_in_one_cell_is_logged_and_the_next_cells_still_run(tmp_path, monkeypatch, capsys):
    grid = plain_grid(tmp_path / "grid.yaml", results_dir="results")
    data = yaml.safe_load(grid.read_text())
    grid.write_text(yaml.safe_dump({**data, "grid": {"seed": [1, 2, 3]}}))
    ran = []
    monkeypatch.setattr("xlt.experiment.run_and_file", fake_run(ran, {1: RuntimeError("CUDA out of memory"),
                                                                      2: OSError(28, "No space left on device")}))
    assert cli.main(["sweep", str(grid), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert ran == [1, 2, 3]
    assert "failed: RuntimeError: CUDA out of memory" in captured.out and "2 cell(s) failed" in captured.out
    assert "seed=1" in captured.out.split("2 cell(s) failed")[1] and "seed=2" in captured.out.split("failed;")[1]
    assert "Traceback" in captured.err and "1 of 3 cells done" in captured.out
    monkeypatch.setattr("xlt.experiment.run_and_file", fake_run([], {1: KeyboardInterrupt()}))
    assert cli.main(["sweep", str(grid), "--no-progress"]) == 130  # an interrupt still stops the whole sweep


@pytest.mark.parametrize("options", ["null", "[1]", "x"])
def test_options_added_to_method_options_that_are_not_a_mapping_are_refused(tmp_path, capsys, options):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"base: {{task: sentiment, method: few-shot, method_options: {options}}}\n"
                    "grid: {method_options.shots: [3, 5]}\n")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "method_options.shots cannot be added to it" in capsys.readouterr().err


def test_grid_keys_that_set_one_setting_are_refused_and_a_list_of_mappings_crosses_its_keys(tmp_path, capsys):
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"
    for crossed, setting in (("{seed: [1, 2, 3], train: [{seed: 5, epochs: 1.0}]}", "train.seed"),
                             ("{seed: [1, 2], train.seed: [3]}", "train.seed"),
                             ("{method_options: [{shots: 3}], method_options.shots: [5]}", "method_options.shots")):
        grid.write_text(f"base: {{task: sentiment, method: few-shot}}\ngrid: {crossed}\n")
        assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
        assert f"both set {setting}; cross it in one key" in capsys.readouterr().err
    grid.write_text("base: {task: sentiment}\ngrid: {train: [{epochs: 1.0}, {epochs: 2.0}]}\n"
                    "cells: [{train: {lora_r: 4}}]\n")  # the cell sets lora_r, the grid only epochs
    assert [(c.train.epochs, c.train.lora_r) for c in prepare(grid).cells] == [(1.0, 4), (2.0, 4)]
    grid.write_text("base: {task: sentiment}\ngrid: {train: [{epochs: 1.0}, {seed: 5}]}\n"
                    "cells: [{seed: 7}]\n")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "cell 1 sets train.seed, which 'grid' also crosses" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["5", "[a]", "false", "0", "''", '"/tmp/a\\0b"'])
def test_results_dir_must_name_a_usable_folder(tmp_path, capsys, value):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"results_dir: {value}\nbase: {{task: sentiment}}\n")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "results_dir must name a folder" in err or "is not a usable folder" in err


def test_only_compares_option_values_and_names_the_options_that_exist(tmp_path, capsys):
    from xlt.sweep import parse_only, prepare

    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {task: sentiment, method: code-switch}\n"
                    "grid: {method_options.ratio: [0.5, 1], method_options.languages: [[de, fr], [de]]}\n")
    for item, count in (("option.ratio=1", 2), ("option.ratio=1.0", 2), ("option.ratio=0.5,1", 4),
                        ("option.languages=de+fr", 2), ("option.languages=de", 2)):
        assert len(prepare(grid, only=parse_only([item])).cells) == count, item
    assert cli.main(["sweep", str(grid), "--only", "option.nosuch=1", "--dry-run"]) == 2
    assert "no method of grid has an option 'nosuch' (options: code-switch: languages, ratio" in \
        capsys.readouterr().err
    assert cli.main(["sweep", str(grid), "--only", "option.ratio=half", "--dry-run"]) == 2
    assert "--only option.ratio: ratio: 'half' is not a float" in capsys.readouterr().err


def test_an_odd_record_in_the_results_folder_does_not_stop_the_time_estimate(tmp_path, monkeypatch, capsys):
    from xlt import sweep as sweep_module
    from xlt.config import ExperimentConfig
    from xlt.results.records import write_record

    monkeypatch.setattr(sweep_module, "_device", lambda: "cpu")
    monkeypatch.setattr(sweep_module, "_timing_records", lambda records: [])  # only the grid's own folder's records
    grid = plain_grid(tmp_path / "grid.yaml", results_dir="results")
    done = ExperimentConfig(task="sentiment", source_languages=["en"])
    done.train.seed = 9
    for i, (section, key) in enumerate((("train", "epochs"), (None, "source_languages"))):
        record = record_of(done, f"2026010{i}T000000")
        record.update(hardware={"device": "cpu"}, training={"train_examples": 100, "eval_seconds": 1.0})
        (record["config"][section] if section else record["config"]).pop(key)
        write_record(record, tmp_path / "results")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 0
    assert "estimated time for 2 cell(s): unknown" in capsys.readouterr().out


def test_a_grid_file_too_deep_or_unreadable_is_one_clear_error(tmp_path, capsys, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {task: sentiment}\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert "is not a YAML grid file: the document is nested too deeply" in capsys.readouterr().err
    real = type(grid).read_text

    def read_text(path, *args, **kwargs):
        if path == grid:
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(type(grid), "read_text", read_text)  # root reads any file: the refusal is simulated
    assert cli.main(["sweep", str(grid), "--dry-run"]) == 2
    assert f"cannot read grid file {grid}: Permission denied" in capsys.readouterr().err


def test_a_cell_is_done_by_a_record_of_its_settings_trained_at_the_precision_it_trains_at_here(tmp_path,
                                                                                              monkeypatch, capsys):
    """`--precision fp32` on a GPU extends a CPU grid (where `auto` is float32) and the other way round; a bf16 run
    stands for no float32 cell but one of its own fingerprint (as before)."""
    from xlt import sweep as sweep_module
    from xlt.errors import XltError
    from xlt.results.records import write_record

    results = tmp_path / "results"
    grid = plain_grid(tmp_path / "grid.yaml", results_dir="results")
    cpu_run, gpu_run = sweep_module.prepare(grid).cells  # `auto`; seeds 1 and 2
    on_cpu = record_of(cpu_run, "20260101T000000")  # an older CPU record: no training.precision, config `auto`
    on_cpu.update(hardware={"device": "cpu"})
    write_record(on_cpu, results)
    fp32_cell = sweep_module.prepare(grid, precision="fp32").cells[1]
    on_gpu = record_of(fp32_cell, "20260101T000001")
    on_gpu.update(hardware={"device": "cuda"}, training={"precision": "fp32"})
    write_record(on_gpu, results)

    monkeypatch.setattr("xlt.training.precision_flags", lambda precision: {})  # this machine: a CPU
    assert set(sweep_module.prepare(grid).skipped) == {cpu_run.fingerprint(), gpu_run.fingerprint()}
    monkeypatch.setattr("xlt.training.precision_flags", lambda precision: {"bf16": True})  # a GPU
    on_gpu_fp32 = sweep_module.prepare(grid, precision="fp32")
    assert set(on_gpu_fp32.skipped) == {c.fingerprint() for c in on_gpu_fp32.cells}  # the CPU's record counts
    assert on_gpu_fp32.skipped[on_gpu_fp32.cells[0].fingerprint()]["run_id"] == on_cpu["run_id"]
    # `auto` on the GPU is bf16: the float32 run on it is not that cell (the CPU's `auto` record still is, by its
    # own fingerprint, as before)
    assert set(sweep_module.prepare(grid).skipped) == {cpu_run.fingerprint()}

    # a bf16 run never fills a float32 cell
    for path in results.rglob("*.json"):
        path.unlink()
    in_bf16 = record_of(cpu_run, "20260101T000002")
    in_bf16.update(hardware={"device": "cuda"}, training={"precision": "bf16"})
    write_record(in_bf16, results)
    assert sweep_module.prepare(grid, precision="fp32").skipped == {}
    monkeypatch.setattr("xlt.training.precision_flags", lambda precision: {})
    assert set(sweep_module.prepare(grid).skipped) == {cpu_run.fingerprint()}  # its own fingerprint, as before
    with pytest.raises(XltError, match="precision must be one of"):
        sweep_module.prepare(grid, precision="fp8")
    # Jobs: `auto` resolves on the Job's machine, so only cells of an explicit precision are matched this way
    in_fp32 = record_of(cpu_run, "20260101T000003")
    in_fp32.update(hardware={"device": "cpu"}, training={"precision": "fp32"})
    for path in results.rglob("*.json"):
        path.unlink()
    write_record(in_fp32, results)
    jobs = sweep_module.prepare(grid, precision="fp32", hub_data=True, check_cells=False)
    assert set(jobs.skipped) == {jobs.cells[0].fingerprint()}
    monkeypatch.setattr("xlt.training.precision_flags", lambda precision: {"bf16": True})
    assert set(sweep_module.prepare(grid, hub_data=True, check_cells=False).skipped) == {cpu_run.fingerprint()}

    # the CLI passes the flag on: the CPU's `auto` record fills the GPU's float32 cell of seed 1
    capsys.readouterr()
    assert cli.main(["sweep", str(grid), "--precision", "fp32", "--dry-run"]) == 0
    assert "2 cells, 1 already done" in capsys.readouterr().out


def test_a_gpu_running_a_protocol_grids_auto_cells_in_half_precision_is_told(tmp_path, monkeypatch):
    from xlt import sweep as sweep_module

    grid = plain_grid(tmp_path / "grid.yaml", results_dir="results", protocol="test-v0")
    monkeypatch.setattr(sweep_module, "_auto_precision", lambda: "bf16")
    text = sweep_module.describe(sweep_module.prepare(grid))
    assert "`auto` trains in bf16, so 2 cell(s) would file bf16 records under protocol test-v0" in text
    assert "--precision fp32" in text
    assert "note:" not in sweep_module.describe(sweep_module.prepare(grid, precision="fp32"))
    monkeypatch.setattr(sweep_module, "_auto_precision", lambda: "fp32")  # a CPU: auto is float32
    assert "note:" not in sweep_module.describe(sweep_module.prepare(grid))
    no_protocol = plain_grid(tmp_path / "free.yaml", results_dir="results")
    monkeypatch.setattr(sweep_module, "_auto_precision", lambda: "bf16")
    assert "note:" not in sweep_module.describe(sweep_module.prepare(no_protocol))



@pytest.mark.parametrize("grid, message", [
    # 551 bytes crossing 10^8 cells ran out of memory before any check
    ({"base": {"task": "sentiment"}, "grid": {f"train.{k}": list(range(10)) for k in
                                              ("seed", "epochs", "lora_r", "lora_alpha", "batch_size", "max_length",
                                               "warmup_ratio", "weight_decay")}}, "crosses 100,000,000 cells"),
    ({"base": {"task": "sentiment"}, "grid": {1: ["a"]}}, "grid keys are names of settings.*got 1"),  # a traceback
    ({"base": {"task": "sentiment"}, "grid": {"seed": [1]}, "cells": [{3: "x"}]}, "cell 1 key 3 must be"),
])
def test_grids_that_would_crash_or_fill_memory_get_one_message(tmp_path, grid, message):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(grid))
    with pytest.raises(XltError, match=message):
        prepare(path)


def test_a_huge_grid_file_or_a_folder_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("base: {task: sentiment}\n# " + "x" * 1_100_000 + "\n")  # a 50 MB one parsed for minutes
    with pytest.raises(XltError, match="at most 1 MB"):
        prepare(big)
    with pytest.raises(XltError, match="is a folder; give a grid file"):
        prepare(tmp_path)


def test_a_background_sweep_whose_log_folder_cannot_be_made_says_so(tmp_path):
    from xlt.sweep import start_in_background

    (tmp_path / "sweeps").write_text("a file where the folder goes")
    with pytest.raises(XltError, match="cannot write the sweep's log"):
        start_in_background(tmp_path / "g.yaml", tmp_path / "sweeps" / "g.log")
