"""`xlt sweep`: a grid validated up front, run cell by cell, skipped once done."""

import time

import yaml

from xlt import cli
from xlt.results.records import read_records


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
    capsys.readouterr()
    start = time.monotonic()
    assert cli.main(["sweep", str(grid), "--no-progress"]) == 0
    assert time.monotonic() - start < 10
    assert "4 cells, 4 already done" in capsys.readouterr().out
    assert len(read_records(tmp_path / "results")[0]) == 4  # nothing ran twice
