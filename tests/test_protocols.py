"""A registered comparison protocol is a promise checked before anything trains, and on the records that name it."""

from __future__ import annotations

import json

import pytest
import yaml

from xlt.config import ExperimentConfig, TrainConfig
from xlt.errors import XltError
from xlt.protocols import CPU_V1, check_follows, check_precision, follows
from xlt.settings import repo_root


def cpu_v1_config(task="sentiment", **train) -> ExperimentConfig:
    settings = {**CPU_V1.train, "max_eval_samples": CPU_V1.eval_rows[task], "seed": 42, **train}
    return ExperimentConfig(task=task, method="zero-shot", model=CPU_V1.model, train=TrainConfig(**settings))


def test_a_run_that_follows_cpu_v1_passes_and_every_changed_setting_is_named():
    check_follows("cpu-v1", cpu_v1_config())
    check_follows("cpu-v1", cpu_v1_config("nli", seed=43, precision="fp32", save_steps=50, eval_batch_size=8))
    broken = cpu_v1_config("nli", learning_rate=1e-4, seed=7, max_eval_samples=100, lora_r=8)
    broken.model = "xlm-roberta-base"
    with pytest.raises(XltError) as caught:
        check_follows("cpu-v1", broken, "--protocol")
    message = str(caught.value)
    assert message.startswith("--protocol: protocol cpu-v1 fixes these settings, and this run changes them: ")
    for part in ("model 'xlm-roberta-base' (the protocol's: 'multilingual-e5-small')",
                 "seed 7 (the protocol's: 42, 43, 44)", "learning_rate 0.0001 (the protocol's: 0.0002)",
                 "lora_r 8 (the protocol's: 16)", "max_eval_samples 100 (the protocol's for nli: 1500)"):
        assert part in message
    other_task = ExperimentConfig(task="topic", model=CPU_V1.model, train=TrainConfig(**CPU_V1.train))
    assert "task 'topic' is not one of its tasks (nli, sentiment)" in "; ".join(CPU_V1.problems(other_task))
    validation = cpu_v1_config()
    validation.eval_split, validation.train_split = "validation", "train+validation"
    assert CPU_V1.problems(validation) == ["train_split 'train+validation' (the protocol's: the task's default)",
                                           "eval_split 'validation' (the protocol's: the task's default)"]
    check_follows("my-own-v1", broken)  # an unregistered name is a free label
    check_follows(None, broken)


def test_every_training_setting_is_fixed_by_the_protocol_or_named_free():
    from dataclasses import fields

    from xlt.protocols import FREE_TRAIN_FIELDS

    fixed = set(CPU_V1.train) | {"max_eval_samples"}  # max_eval_samples: per task (eval_rows)
    assert fixed.isdisjoint(FREE_TRAIN_FIELDS)
    assert fixed | FREE_TRAIN_FIELDS == {f.name for f in fields(TrainConfig)}  # a new setting must pick a side


def test_several_processes_are_refused_and_their_records_do_not_follow():
    from xlt.protocols import check_world_size, record_problems

    check_world_size("cpu-v1", 1)
    check_world_size("my-own-v1", 4)
    with pytest.raises(XltError, match="trains in 1 process\\(es\\), and this run would use 2 .*leave --num-gpus out"):
        check_world_size("cpu-v1", 2, "--protocol")
    records = [json.loads(p.read_text()) for p in (repo_root() / "leaderboard" / "results" / "sentiment").glob(
        "zero-shot__*__en__seed42__*.json")]
    record = next(r for r in records if r.get("protocol") == "cpu-v1")
    assert record_problems(record) == []
    two = dict(record, hardware={**record["hardware"], "device": "cuda", "world_size": 2},
               training={**record["training"], "precision": "bf16"})
    assert record_problems(two) == ["trained in bf16 (the protocol's: fp32)", "trained in 2 processes (the "
                                    "protocol's: 1)"]


def test_precision_is_checked_as_it_resolves():
    check_precision("cpu-v1", "fp32")
    check_precision("my-own-v1", "bf16")
    with pytest.raises(XltError) as caught:  # asked for explicitly: no word about `auto`
        check_precision("cpu-v1", "bf16", "cell", configured="bf16")
    assert str(caught.value) == ("cell: protocol cpu-v1 trains in fp32, and this run would train in bf16: use "
                                 "--precision fp32")
    with pytest.raises(XltError, match="protocol cpu-v1 trains in fp32, and this run would train in bf16 .*"
                                       "use --precision fp32"):
        check_precision("cpu-v1", "bf16")


def test_every_committed_protocol_record_follows_it_and_the_bf16_ones_kept_apart_do_not():
    root = repo_root() / "leaderboard"
    named = [json.loads(p.read_text()) for p in sorted((root / "results").rglob("*.json"))]
    named = [r for r in named if isinstance(r, dict) and r.get("protocol") == "cpu-v1"]
    assert len(named) > 80 and all(follows(r) for r in named)
    apart = [json.loads(p.read_text()) for p in sorted((root / "hardware-check").glob("*.json"))]
    half = [r for r in apart if r["hardware"]["device"] == "cuda" and (r.get("training") or {}).get("precision")
            in (None, "bf16")]
    assert len(half) >= 20 and not any(follows(r) for r in half)
    tweaked = dict(named[0], config={**named[0]["config"], "train": {**named[0]["config"]["train"], "epochs": 12.0}})
    assert not follows(tweaked) and not follows(dict(named[0], config={"task": 5}))
    assert follows(dict(tweaked, protocol="my-own-v1"))


def test_every_committed_grid_that_names_cpu_v1_follows_it():
    from xlt.sweep import prepare

    grids = [p for p in sorted((repo_root() / "sweeps").glob("*.yaml"))
             if yaml.safe_load(p.read_text()).get("protocol") == "cpu-v1"]
    assert len(grids) >= 6
    for grid in grids:
        assert prepare(grid, check_cells=False).cells  # raises on a cell that breaks the protocol


def test_a_grid_cell_that_breaks_its_protocol_is_refused_before_anything_runs(tmp_path):
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"
    base = {"task": "sentiment", "model": CPU_V1.model, "train": dict(CPU_V1.train)}
    grid.write_text(yaml.safe_dump({"protocol": "cpu-v1", "results_dir": "results", "base": base,
                                    "grid": {"seed": [42, 43]},
                                    "cells": [{"method": "zero-shot"}, {"method": "zero-shot", "train.epochs": 12}]}))
    with pytest.raises(XltError, match=r"grid cell 3 \(zero-shot src=en seed=42 .*epochs 12.0 \(the protocol's: 6.0\)"):
        prepare(grid, check_cells=False)


def test_a_protocol_grids_cell_is_done_only_by_a_record_that_names_and_follows_it(tmp_path):
    from tests.test_sweep import record_of
    from xlt.results.records import write_record
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"
    base = {"task": "sentiment", "model": CPU_V1.model, "train": dict(CPU_V1.train)}
    grid.write_text(yaml.safe_dump({"protocol": "cpu-v1", "results_dir": "results", "base": base,
                                    "grid": {"seed": [42, 43, 44]}}))
    first, second, third = prepare(grid, check_cells=False).cells
    write_record(record_of(first, "20260101T000000"), tmp_path / "results")  # names no protocol
    write_record(dict(record_of(second, "20260101T000001"), protocol="cpu-v1",  # cpu-v1, but bf16 on a GPU
                      hardware={"device": "cuda", "gpu": "H100", "gpu_count": 1}), tmp_path / "results")
    write_record(dict(record_of(third, "20260101T000002"), protocol="cpu-v1"), tmp_path / "results")
    assert set(prepare(grid, check_cells=False).skipped) == {third.fingerprint()}


def test_a_sweep_or_queue_that_would_train_a_protocol_grid_in_half_precision_is_refused(tmp_path, monkeypatch):
    from xlt import sweep as sweep_module

    grid = tmp_path / "grid.yaml"
    base = {"task": "sentiment", "model": CPU_V1.model, "train": dict(CPU_V1.train)}
    grid.write_text(yaml.safe_dump({"protocol": "cpu-v1", "results_dir": "results", "base": base,
                                    "grid": {"seed": [42]}}))
    monkeypatch.setattr(sweep_module, "_auto_precision", lambda: "bf16")  # a GPU
    sweep = sweep_module.prepare(grid, check_cells=False)
    assert "protocol cpu-v1 trains in fp32: 1 cell(s) would be refused; --precision fp32" in \
        sweep_module.describe(sweep)

    class NoJobs:  # nothing may be queued
        def list(self):
            return []

        def submit(self, *args, **kwargs):
            raise AssertionError("queued a cell the protocol refuses")

    for run in (lambda: sweep_module.run_sweep(sweep, show_progress=False, log=lambda line: None),
                lambda: sweep_module.queue_as_jobs(sweep, NoJobs())):
        with pytest.raises(XltError, match="trains in fp32, and this run would train in bf16"):
            run()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    fp32 = sweep_module.prepare(grid, check_cells=False, precision="fp32")
    sweep_module.check_sweep_precision(fp32)  # --precision fp32: allowed

    from xlt import cli

    started = []
    monkeypatch.setattr(sweep_module, "start_in_background", lambda *args, **kwargs: started.append(args) or 1)
    assert cli.main(["sweep", str(grid), "--background"]) != 0 and not started  # refused here, not in its log
    assert cli.main(["sweep", str(grid), "--background", "--precision", "fp32"]) == 0 and len(started) == 1


def test_the_apps_grid_queue_says_why_it_refuses(tmp_path, monkeypatch):
    from xlt import sweep as sweep_module
    from xlt.app import sweeps
    from xlt.jobs import JobStore
    from xlt.results.store import ResultsStore

    folder = tmp_path / "sweeps"
    folder.mkdir()
    base = {"task": "sentiment", "model": CPU_V1.model, "train": dict(CPU_V1.train)}
    (folder / "grid.yaml").write_text(yaml.safe_dump({"protocol": "cpu-v1", "results_dir": str(tmp_path / "r"),
                                                      "base": base, "grid": {"seed": [42]}}))
    monkeypatch.setattr(sweep_module, "_auto_precision", lambda: "bf16")  # a GPU Space
    monkeypatch.setattr(sweep_module, "unrunnable", lambda sweep, hub_data=False: {})
    jobs = JobStore(tmp_path / "jobs")
    store = ResultsStore(home=tmp_path / "home", committed_dir=tmp_path / "committed", repo="")
    message = sweeps.queue_sweep(jobs, store, "grid", folder=folder)
    assert message.startswith("**Not queued:** grid cell zero-shot src=en seed=42")
    assert "use --precision fp32" in message
    assert jobs.list() == []


def test_run_and_file_and_the_cli_refuse_a_broken_protocol_before_training(tmp_path, monkeypatch, capsys):
    from xlt import cli, training
    from xlt.experiment import run_and_file

    def no_training(*args, **kwargs):
        raise AssertionError("got past the protocol's checks")

    with monkeypatch.context() as patch:
        patch.setattr("xlt.experiment.validate", no_training)
        with pytest.raises(XltError, match="learning_rate 0.0001"):
            run_and_file(cpu_v1_config(learning_rate=1e-4), results_dir=tmp_path / "results",
                         output_dir=tmp_path / "run", protocol="cpu-v1")
        patch.setattr(training, "resolved_precision", lambda precision: "bf16")  # as on a GPU
        with pytest.raises(XltError, match="use --precision fp32"):
            run_and_file(cpu_v1_config(), results_dir=tmp_path / "results", output_dir=tmp_path / "run",
                         protocol="cpu-v1")
        patch.setattr(training, "resolved_precision", lambda precision: "fp32")
        patch.setenv("WORLD_SIZE", "2")  # a rank of a multi-GPU run
        with pytest.raises(XltError, match="would use 2"):
            run_and_file(cpu_v1_config(), results_dir=tmp_path / "results", output_dir=tmp_path / "run",
                         protocol="cpu-v1")
    assert not (tmp_path / "run").exists() and not (tmp_path / "results").exists()

    capsys.readouterr()
    code = cli.main(["train", "--task", "sentiment", "--learning-rate", "0.0001", "--protocol", "cpu-v1",
                     "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code != 0 and "running:" not in err
    assert err.startswith("xlt: error: --protocol: protocol cpu-v1 fixes these settings") and err.count("\n") == 1
    monkeypatch.setattr(training, "resolved_precision", lambda precision: "bf16")  # as `auto` on a GPU
    for extra in (["--num-gpus", "2"], []):  # several processes; half precision: before 'running:'
        code = cli.main(["train", "--task", "sentiment", "--protocol", "cpu-v1", *extra, *_cpu_v1_flags()])
        err = capsys.readouterr().err
        assert code != 0 and "running:" not in err and err.count("\n") == 1
        assert ("leave --num-gpus out" if extra else "use --precision fp32") in err


def _cpu_v1_flags() -> list[str]:
    return ["--model", CPU_V1.model, "--learning-rate", "0.0002", "--epochs", "6", "--finetune", "lora",
            "--lora-r", "16", "--lora-alpha", "32", "--lora-targets", "all-linear", "--seed", "42"]


def test_hf_jobs_on_a_gpu_flavor_refuse_a_protocol_grid_left_at_auto(tmp_path, monkeypatch, capsys):
    from xlt import cli

    monkeypatch.delenv("XLT_RESULTS_REPO", raising=False)
    grid = tmp_path / "grid.yaml"
    base = {"task": "nli", "model": CPU_V1.model, "train": {**CPU_V1.train, "max_eval_samples": 1500}}
    grid.write_text(yaml.safe_dump({"protocol": "cpu-v1", "base": base, "grid": {"seed": [44]}}))  # not run
    capsys.readouterr()
    assert cli.main(["sweep", str(grid), "--backend", "hf-jobs", "--flavor", "a10g-small"]) != 0
    assert "this run would train in bf16/fp16 (on a GPU `auto` is half precision): use --precision fp32" in \
        capsys.readouterr().err
    # in float32, or on a CPU flavor, it gets as far as the results repo it needs
    for extra in (["--precision", "fp32"], ["--flavor", "cpu-upgrade"]):
        assert cli.main(["sweep", str(grid), "--backend", "hf-jobs", *extra]) != 0
        assert "set XLT_RESULTS_REPO" in capsys.readouterr().err


def test_the_leaderboard_never_counts_a_record_that_breaks_its_protocol_among_those_that_keep_it():
    from xlt.leaderboard.figures import comparison_runs
    from xlt.leaderboard.matrix import cells_frame, matrix_settings, transfer_matrix
    from xlt.leaderboard.table import filter_runs, protocol_choices, runs_frame

    folder = repo_root() / "leaderboard" / "results" / "sentiment"
    kept = [json.loads(p.read_text()) for p in sorted(folder.glob("zero-shot__*__seed42__*.json"))]
    kept = [r for r in kept if r.get("protocol") == "cpu-v1"]
    de = next(r for r in kept if r["source_languages"] == ["de"])
    en = next(r for r in kept if r["source_languages"] == ["en"])
    broken = []  # the same runs claiming cpu-v1 on 12 epochs, newer and scoring far higher: twice, to outnumber
    for i, original in enumerate((de, en, en)):
        run = json.loads(json.dumps(original))
        run.update(run_id=f"broken00000{i}-20301127T000000", created="2030-11-27T00:00:00+00:00")
        run["config"]["train"]["epochs"] = 12.0
        for scores in run["metrics"].values():
            scores["macro_f1"] = 0.99
        broken.append(run)
    runs = runs_frame([*kept, *broken])
    row = runs[runs["run_id"] == broken[0]["run_id"]].iloc[0]
    assert row["protocol"] == "cpu-v1 (not followed)" and "⚠ protocol:cpu-v1 (not followed)" in row["flags"]
    assert runs[runs["run_id"] == de["run_id"]].iloc[0]["flags"] == "protocol:cpu-v1"
    assert protocol_choices(runs) == ["cpu-v1", "cpu-v1 (not followed)"]
    assert not {r["run_id"] for r in broken} & set(filter_runs(runs, protocol="cpu-v1")["run_id"])
    chosen, note = comparison_runs(runs)  # the method chart: the kept runs, though the broken outnumber the en ones
    assert set(chosen["protocol"]) == {"cpu-v1"} and note.startswith("protocol cpu-v1 (")
    cells = cells_frame([*kept, *broken])
    assert [label for _, label in matrix_settings(cells, "sentiment")] == [
        "multilingual-e5-small · protocol cpu-v1", "multilingual-e5-small · protocol cpu-v1 (not followed)"]
    for protocol in ("cpu-v1", None):  # the Protocol filter's matrix, and `xlt rank`'s default
        matrix = transfer_matrix(cells, "sentiment", protocol=protocol)
        assert matrix.mean.at["de", "fr"] == pytest.approx(de["metrics"]["fr"]["macro_f1"])  # the kept run alone


def test_an_upload_of_odd_shape_is_labelled_not_followed_and_never_breaks_a_view():
    from xlt.leaderboard.table import runs_frame
    from xlt.protocols import protocol_label, record_problems

    folder = repo_root() / "leaderboard" / "results" / "sentiment"
    record = next(r for r in (json.loads(p.read_text()) for p in sorted(folder.glob("zero-shot__*.json")))
                  if r.get("protocol") == "cpu-v1")
    for odd in ("2", [2], {"a": 1}, True):
        upload = dict(record, run_id="upload000000-20261127T000000",
                      hardware={**record["hardware"], "world_size": odd})
        assert "cannot be read" in record_problems(upload)[0] and protocol_label(upload) == "cpu-v1 (not followed)"
        assert runs_frame([upload])["protocol"].tolist() == ["cpu-v1 (not followed)"]
    assert protocol_label(dict(record, training=["odd"])) == "cpu-v1 (not followed)"


def test_xlt_protocols_lists_what_each_fixes(capsys):
    from xlt import cli

    assert cli.main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cpu-v1: the offline default encoder")
    assert "model=multilingual-e5-small learning_rate=0.0002" in out and "max_eval_samples[nli]=1500" in out
    assert "seed in 42,43,44 precision=fp32 processes=1" in out and "free label" in out


def test_skip_existing_under_a_protocol_counts_only_records_that_kept_it(tmp_path, monkeypatch, capsys):
    from tests.test_sweep import record_of
    from xlt import cli
    from xlt.results.records import write_record

    def trains(*args, **kwargs):
        raise XltError("would train now")

    monkeypatch.setattr("xlt.experiment.run_and_file", trains)
    args = ["train", "--task", "sentiment", "--protocol", "cpu-v1", *_cpu_v1_flags(), "--results-dir",
            str(tmp_path / "results"), "--skip-existing"]
    config = cpu_v1_config()
    write_record(record_of(config, "20260101T000000"), tmp_path / "results")  # the same settings, no protocol
    capsys.readouterr()
    assert cli.main(args) != 0 and "would train now" in capsys.readouterr().err
    write_record(dict(record_of(config, "20260101T000001"), protocol="cpu-v1"), tmp_path / "results")
    assert cli.main(args) == 0 and "already done" in capsys.readouterr().out
