"""scripts/few_shot_stages.py on a tiny model: the source stage of a parallel-data few-shot run scored alone."""

import json
import shutil
import sys
from pathlib import Path

from xlt.config import ExperimentConfig, TrainConfig
from xlt.experiment import run_and_file
from xlt.settings import home_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import few_shot_stages  # noqa: E402

TINY = dict(max_eval_samples=8, epochs=1, batch_size=8, max_length=32, learning_rate=1e-3, save_steps=2,
            max_train_samples=24)


def test_source_stage_is_scored_on_the_records_rows_beside_zero_shot_and_few_shot(tiny_model_dir, tmp_path,
                                                                                    capsys):
    def config(method, options=None):
        return ExperimentConfig(task="nli", method=method, model=str(tiny_model_dir), source_languages=["en"],
                                target_languages=["en", "de", "fr"], method_options=options or {},
                                train=TrainConfig(**TINY))

    results = tmp_path / "results"
    few = run_and_file(config("few-shot", {"shots": 3, "pool_rows": 12, "shot_epochs": 1}), results_dir=results,
                       show_progress=False)
    zero = run_and_file(config("zero-shot"), results_dir=results, show_progress=False)
    out = tmp_path / "stages.json"
    assert few_shot_stages.main([few["path"], "--results-dir", str(results), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| target average |" in printed and "| en (source) |" in printed
    [row] = json.loads(out.read_text())
    assert (row["few_shot_run"], row["zero_shot_run"]) == (few["run_id"], zero["run_id"])
    assert row["target_average"]["few_shot"] == few["summary"]["target_average"]
    assert row["target_average"]["zero_shot"] == zero["summary"]["target_average"]
    assert set(row["per_language"]) == {"en", "de", "fr"}
    assert row["source_stage_examples"] == few["training"]["source_stage"]["train_examples"]

    # no source stage on disk: a clear message, nothing trained unless asked
    shutil.rmtree(home_dir() / "runs" / few["config_fingerprint"] / "source")
    assert few_shot_stages.main([few["path"], "--results-dir", str(results)]) == 2
    assert "no finished source stage" in capsys.readouterr().err


def test_a_missing_or_malformed_record_file_is_one_message(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bare.json").write_text('{"config": {}}')
    for name, words in (("missing.json", "No such file"), ("broken.json", "not valid JSON"),
                        ("list.json", "must be a JSON object"), ("bare.json", "missing 'task'")):
        assert few_shot_stages.main([str(tmp_path / name), "--results-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "cannot read a run record" in err and words in err and name in err and "Traceback" not in err
