"""Real fine-tuning of the default encoder (minutes on 2 cores): `pytest -m slow`."""

import json
import os
import shlex
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_cli(argv, cwd):
    return subprocess.run([sys.executable, "-m", "xlt.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=1800)


def test_record_command_reproduces_its_numbers(tmp_path, e5_checkpoint):
    """A small real run, then its record's `command` run again: the same numbers."""
    argv = ["train", "--task", "sentiment", "--source", "en", "--targets", "en,fr,hi", "--finetune", "lora",
            "--lora-targets", "all-linear", "--lora-r", "8", "--lr", "2e-4", "--epochs", "1",
            "--head-init", "linear-probe",
            "--max-train-samples", "320", "--max-eval-samples", "150", "--max-length", "64",
            "--results-dir", str(tmp_path / "first")]
    first = run_cli(argv, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    [path] = list((tmp_path / "first" / "sentiment").glob("*.json"))
    record = json.loads(path.read_text())
    # fine-tuning moved the model well above chance on English (3 balanced-ish classes)
    assert record["metrics"]["en"]["macro_f1"] > 0.45, record["metrics"]
    assert record["metrics"]["fr"]["macro_f1"] > 0.38, record["metrics"]
    again = shlex.split(record["command"])[1:] + ["--results-dir", str(tmp_path / "again")]
    second = run_cli(again, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    [path2] = list((tmp_path / "again" / "sentiment").glob("*.json"))
    record2 = json.loads(path2.read_text())
    assert record2["config_fingerprint"] == record["config_fingerprint"]
    for lang, m in record["metrics"].items():
        assert abs(record2["metrics"][lang]["macro_f1"] - m["macro_f1"]) < 1e-6
