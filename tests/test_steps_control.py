"""scripts/steps_control.py: code-switching beside zero-shot and zero-shot trained for as many steps, per seed and
per language, on the committed NLI records of protocol cpu-v1 and a control record built from one of them."""

import copy
import json
import sys
from pathlib import Path

from xlt.settings import repo_root

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import steps_control  # noqa: E402


def _committed(method: str, seed: int, task: str = "nli") -> dict:
    for path in sorted((repo_root() / "leaderboard" / "results" / task).glob(f"{method}__*__en__seed{seed}__*.json")):
        record = json.loads(path.read_text())
        if record.get("protocol") == "cpu-v1":
            return record
    raise AssertionError(f"no committed cpu-v1 {method} record for seed {seed}")


def test_the_control_sits_between_zero_shot_and_code_switching_per_seed_and_language(tmp_path, capsys):
    zero = _committed("zero-shot", 42)
    control = copy.deepcopy(zero)  # the control: 12 epochs, no protocol, +0.01 on every language
    control.update(protocol=None, run_id="ctrl00000000-20261127T000000", created="2026-11-27T00:00:00+00:00")
    control["config"]["train"]["epochs"] = 12.0
    control["training"].update(train_steps=1872, final_train_loss=0.75)
    for scores in control["metrics"].values():
        scores["accuracy"] += 0.01
    control["summary"]["target_average"] += 0.01
    folder = tmp_path / "steps-control" / "nli"
    folder.mkdir(parents=True)
    (folder / "control.json").write_text(json.dumps(control))
    out = tmp_path / "out.json"
    assert steps_control.main(["--control", str(tmp_path / "steps-control"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    switched = _committed("code-switch", 42)
    result = json.loads(out.read_text())
    [seed] = result["seeds"]
    assert seed["seed"] == 42 and seed["code_switch"]["run_id"] == switched["run_id"]
    assert seed["zero_shot"]["run_id"] == zero["run_id"] and seed["zero_shot_same_steps"]["train_steps"] == 1872
    de = result["per_language"]["de"]
    assert abs(de["zero_shot_same_steps"] - de["zero_shot"] - 0.01) < 1e-9
    assert de["code_switch"] == switched["metrics"]["de"]["accuracy"]
    assert f"| 42 | {zero['summary']['target_average']:.3f} (936 steps" in printed
    assert "1872 steps, loss 0.75" in printed
    # the control is +0.01 on every language: higher than zero-shot on every target (not English, the source)
    assert result["targets"] == 14 and result["higher_on_targets"]["zero_shot_same_steps_over_zero_shot"] == 14
    assert "the control higher than zero-shot on 14 of 14" in printed

    # a control scored on other test rows does not compare
    control["metrics"]["de"]["rows"] = "other"
    (folder / "control.json").write_text(json.dumps(control))
    assert steps_control.main(["--control", str(tmp_path / "steps-control")]) == 2
    assert "different test rows" in capsys.readouterr().err
    # no control yet: one message
    assert steps_control.main(["--control", str(tmp_path / "missing")]) == 2
    assert "no nli control records" in capsys.readouterr().err


def test_only_float32_runs_compare_and_the_newest_control_of_a_seed_counts(tmp_path, capsys):
    zero = _committed("zero-shot", 42)
    folder = tmp_path / "steps-control" / "nli"
    folder.mkdir(parents=True)
    for i, (precision, bump) in enumerate((("fp32", 0.01), ("fp32", 0.02), ("bf16", 0.05))):
        control = copy.deepcopy(zero)
        control.update(protocol=None, run_id=f"ctrl0000000{i}-2026112{7 + (i > 0)}T00000{i}",
                       created=f"2026-11-2{7 + (i > 0)}T00:00:0{i}+00:00")
        control["config"]["train"]["epochs"] = 12.0
        control["training"].update(train_steps=1872, final_train_loss=0.75, precision=precision)
        control["summary"]["target_average"] += bump
        (folder / f"control{i}.json").write_text(json.dumps(control))
    out = tmp_path / "out.json"
    assert steps_control.main(["--control", str(tmp_path / "steps-control"), "--json", str(out)]) == 0
    [seed] = json.loads(out.read_text())["seeds"]  # one row for the seed, from its newest float32 control
    assert seed["zero_shot_same_steps"]["run_id"] == "ctrl00000001-20261128T000001"
    assert abs(seed["zero_shot_same_steps"]["target_average"] - zero["summary"]["target_average"] - 0.02) < 1e-9


def test_tweets_compare_with_their_own_records_and_a_control_on_fewer_rows_does_not(tmp_path, capsys):
    zero = _committed("zero-shot", 43, "sentiment")
    control = copy.deepcopy(zero)  # 12 epochs on tweets: 1,380 steps, -0.02 macro-F1 on every language
    control.update(protocol=None, run_id="ctrl00000043-20261127T000000", created="2026-11-27T00:00:00+00:00")
    control["config"]["train"]["epochs"] = 12.0
    control["training"].update(train_steps=1380, final_train_loss=0.4)
    for scores in control["metrics"].values():
        scores["macro_f1"] -= 0.02
    control["summary"]["target_average"] -= 0.02
    folder = tmp_path / "steps-control" / "sentiment"
    folder.mkdir(parents=True)
    (folder / "control.json").write_text(json.dumps(control))
    nli_only = ["--control", str(tmp_path / "steps-control")]
    assert steps_control.main(nli_only) == 2  # the default task is nli: a sentiment control is not its control
    assert "no nli control records" in capsys.readouterr().err
    out = tmp_path / "out.json"
    assert steps_control.main([*nli_only, "--task", "sentiment", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    [seed] = result["seeds"]
    switched = _committed("code-switch", 43, "sentiment")
    assert seed["code_switch"]["run_id"] == switched["run_id"] and seed["zero_shot"]["run_id"] == zero["run_id"]
    assert result["targets"] == 7 and result["higher_on_targets"]["zero_shot_same_steps_over_zero_shot"] == 0
    assert abs(result["per_language"]["fr"]["zero_shot_same_steps"] - zero["metrics"]["fr"]["macro_f1"] + 0.02) < 1e-9
    control["metrics"]["fr"]["n"] = 100  # scored on fewer tweets: not the same test rows
    (folder / "control.json").write_text(json.dumps(control))
    assert steps_control.main([*nli_only, "--task", "sentiment"]) == 2
    assert "different test rows" in capsys.readouterr().err
