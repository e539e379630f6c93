"""The command line: clear one-line errors, non-zero exit codes, no tracebacks."""

import os
import subprocess
import sys

import pytest

from xlt.results.records import read_records


def run_cli(*args, env=None):
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "xlt.cli", *args], capture_output=True, text=True, env=merged,
                          timeout=600)


@pytest.mark.parametrize("args, env, message", [
    (["train", "--task", "nope"], None, "unknown task 'nope'"),
    (["train", "--task", "nli", "--method", "magic"], None, "unknown method 'magic'"),
    (["train", "--task", "nli", "--model", "nonsense"], None, "unknown model 'nonsense'"),
    (["train", "--task", "nli", "--source", "xx"], None, "has no language(s) ['xx']"),
    (["train", "--task", "nli", "--lr", "3"], None, "learning_rate must be in (0, 1)"),
    (["train", "--task", "nli", "--max-train-samples", "4", "--epochs", "1"], {"XLT_DATA_DIR": "/nonexistent/data"},
     "does not exist"),
    (["train", "--task", "nli", "--option", "novalue"], None, "key=value"),
    (["predict", "--task", "sentiment", "   "], None, "text is empty"),
    (["predict", "--task", "nli", "--premise", "only a premise"], None, "give --premise (premise) and --hypothesis"),
    (["predict", "--task", "zero-shot", "some text", "--labels", " , "], None, "at least one candidate label"),
    (["evaluate", "--model-dir", "/nonexistent"], None, "model folder /nonexistent does not exist"),
    (["evaluate", "--model-dir", "klingon"], None, "no shipped predictor for task 'klingon'"),
    (["rank", "--task", "nli", "--target", "xx"], None, "unknown language code 'xx'"),
    (["rank", "--task", "nope", "--target", "sw"], None, "unknown task 'nope'"),
])
def test_bad_input_one_clear_line(args, env, message):
    result = run_cli(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_listings():
    for command, expected in (("tasks", "nli"), ("models", "multilingual-e5-small"), ("methods", "zero-shot")):
        result = run_cli(command)
        assert result.returncode == 0 and expected in result.stdout


def test_train_writes_a_record_and_skips_it_the_second_time(tiny_model_dir, tmp_path):
    args = ["train", "--task", "sentiment", "--model", str(tiny_model_dir), "--source", "en", "--targets", "en,fr",
            "--max-train-samples", "16", "--max-eval-samples", "8", "--epochs", "1", "--batch-size", "8",
            "--max-length", "32", "--results-dir", str(tmp_path / "results"), "--skip-existing"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "target average (macro_f1, 1 languages)" in first.stdout
    records, errors = read_records(tmp_path / "results")
    assert len(records) == 1 and not errors
    second = run_cli(*args)
    assert second.returncode == 0 and "already done" in second.stdout
