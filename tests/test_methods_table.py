"""The README's methods table (scripts/methods_table.py): a method is compared with English-source zero-shot
on the same seeds and the same target languages; single-source runs from other languages stay out of it."""

import copy
import importlib.util
import json

from xlt.settings import repo_root


def _script():
    spec = importlib.util.spec_from_file_location("methods_table", repo_root() / "scripts" / "methods_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed_zero_shot(seed: int) -> dict:
    folder = repo_root() / "leaderboard" / "results" / "sentiment"
    for path in sorted(folder.glob(f"zero-shot__multilingual-e5-small__en__seed{seed}__*.json")):
        record = json.loads(path.read_text())
        if record.get("protocol") == "cpu-v1":
            return record
    raise AssertionError(f"no committed cpu-v1 English zero-shot record for seed {seed}")


def _results_with_zero_shot(tmp_path):
    """A results folder holding the committed English zero-shot record of seed 42: (its sentiment folder, record)."""
    folder = tmp_path / "sentiment"
    folder.mkdir()
    zero = _committed_zero_shot(42)
    (folder / "zero.json").write_text(json.dumps(zero))
    return folder, zero


def test_methods_are_compared_on_the_same_seeds_and_targets(tmp_path, monkeypatch, capsys):
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    german = copy.deepcopy(zero)  # a matrix run from German: not the baseline, not a row
    german["config"]["source_languages"] = german["source_languages"] = ["de"]
    german["run_id"] = "de0000000000-20261126T000000"
    (folder / "de.json").write_text(json.dumps(german))
    multi = copy.deepcopy(zero)  # trained on en+es+de: compared on the other five languages only
    multi.update(method="multi-source", run_id="ms0000000000-20261126T000000")
    multi["config"].update(method="multi-source", source_languages=["en", "es", "de"])
    targets = ["ar", "fr", "hi", "it", "pt"]
    for lang in targets:
        multi["metrics"][lang]["macro_f1"] += 0.05
    multi["summary"].update(target_languages=targets,
                            target_average=sum(multi["metrics"][t]["macro_f1"] for t in targets) / 5)
    (folder / "multi.json").write_text(json.dumps(multi))

    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path)])
    script.main()
    out = capsys.readouterr().out
    rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| sentiment |")}
    measured = {key for key, line in rows.items() if "no records of this protocol yet" not in line}
    assert measured == {"zero-shot", "multi-source (en+es+de)"}
    # every other registered method still has its row, saying it has no records
    assert {"few-shot", "code-switch", "translate-train", "translate-test", "pretrained"} <= set(rows) - measured
    baseline = sum(zero["metrics"][t]["macro_f1"] for t in targets) / 5
    assert f"| {baseline:.3f} (1) | +0.050 (+0.050) | 5 of 5 |" in rows["multi-source (en+es+de)"]
    assert f"{zero['summary']['target_average']:.3f} (1 seed, no spread)" in rows["zero-shot"]
    assert "compared here: 2" in out
    # a seed without its zero-shot run is counted, never averaged into the compared mean
    unmatched = copy.deepcopy(multi)
    unmatched.update(seed=43, run_id="ms4300000000-20261126T000000")
    unmatched["config"]["train"]["seed"] = 43
    unmatched["summary"]["target_average"] = 0.99
    (folder / "multi43.json").write_text(json.dumps(unmatched))
    small = copy.deepcopy(zero)  # seed 43's zero-shot scored on 100 rows a language: no baseline for 870-row runs
    small.update(seed=43, run_id="zs4300000000-20261126T000000")
    small["config"]["train"]["seed"] = 43
    for scores in small["metrics"].values():
        scores["n"] = 100
    (folder / "zero43-small.json").write_text(json.dumps(small))
    script.main()
    row = [line for line in capsys.readouterr().out.splitlines() if "| multi-source (en+es+de) |" in line][0]
    mean = multi["summary"]["target_average"]
    assert f"| {mean:.3f} (1 seed, no spread); 1 run(s) without a matching zero-shot run left out |" in row
    assert "+0.050 (+0.050)" in row


def test_translate_train_has_a_row_per_target(tmp_path, monkeypatch, capsys):
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    for i, target in enumerate(("es", "fr")):  # one model per target language
        run = copy.deepcopy(zero)
        run.update(method="translate-train", run_id=f"tt{i}000000000-20261126T000000")
        run["config"].update(method="translate-train", target_languages=[target])
        run["summary"].update(target_languages=[target], target_average=run["metrics"][target]["macro_f1"] + 0.01)
        run["metrics"][target]["macro_f1"] += 0.01
        (folder / f"tt-{target}.json").write_text(json.dumps(run))
    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path)])
    script.main()
    rows = {line.split(" | ")[1]: line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| sentiment |")}
    for target in ("es", "fr"):
        baseline = zero["metrics"][target]["macro_f1"]
        assert f"| {baseline:.3f} (1) | +0.010 (+0.010) | 1 of 1 |" in rows[f"translate-train → {target}"]


def test_method_variants_name_the_target_and_translator():
    from xlt.leaderboard.table import method_variant

    record = _committed_zero_shot(42)
    record = dict(record, method="translate-train", config=dict(record["config"], target_languages=["es"]))
    assert method_variant(record) == "translate-train → es"
    assert method_variant(dict(record, method="translate-test")) == "translate-test"
    gold = dict(record["config"], target_languages=None, method_options={"translator": "gold"})
    assert method_variant(dict(record, method="translate-test", config=gold)) == "translate-test via gold"
    assert method_variant(dict(record, config=dict(gold, target_languages=["sw"]))) == "translate-train → sw via gold"
    # any other option set is its own variant (never averaged with the default's runs)
    center = dict(record["config"], method_options={"mapping": "center"})
    assert method_variant(dict(record, method="embedding-alignment", config=center)) == \
        "embedding-alignment, mapping=center"
    few = dict(record["config"], method_options={"shots": 50, "shot_languages": ["de", "fr"]})
    assert method_variant(dict(record, method="few-shot", config=few)) == "few-shot K=50, shot_languages=de+fr"


def test_runs_trained_in_bf16_are_their_own_row_and_never_paired_with_fp32_runs(tmp_path, monkeypatch, capsys):
    """Under a free protocol label a bf16 run (GPU, `auto`) is compared with the zero-shot run of its own seed and
    precision, never averaged with fp32 runs; an fp32 run on a GPU sits beside the CPU ones. Under cpu-v1, which
    trains in float32 (xlt/protocols.py), a bf16 record is left out of the table, and stderr says so."""
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    zero["protocol"] = "test-v0"
    (folder / "zero.json").write_text(json.dumps(zero))
    gpu = {"device": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1}
    code_switch = copy.deepcopy(zero)  # 'auto' on a GPU, from before records named their precision: bf16
    code_switch.update(method="code-switch", run_id="cs0000000000-20261126T000000", hardware=gpu)
    code_switch["config"]["method"] = "code-switch"
    (folder / "cs.json").write_text(json.dumps(code_switch))

    def table(protocol="test-v0"):
        monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path), "--protocol", protocol])
        script.main()
        captured = capsys.readouterr()
        return {line.split(" | ")[1]: line for line in captured.out.splitlines()
                if line.startswith("| sentiment |")}, captured.err

    rows, _ = table()
    assert "(1 seed, no spread) |  |  |" in rows["code-switch [bf16 on H100 80GB HBM3]"]  # no bf16 zero-shot yet
    gpu_zero = copy.deepcopy(zero)
    gpu_zero.update(run_id="zz0000000000-20261126T000000", hardware=gpu)
    (folder / "gpu-zero.json").write_text(json.dumps(gpu_zero))
    rows, _ = table()
    assert "| +0.000 (+0.000) | 0 of 7 |" in rows["code-switch [bf16 on H100 80GB HBM3]"]  # with the bf16 zero-shot
    assert rows["zero-shot [bf16 on H100 80GB HBM3]"].endswith("|  |  | the baseline |")  # not with itself
    fp32 = copy.deepcopy(code_switch)  # trained in fp32 on the GPU: beside the CPU runs, paired with them
    fp32.update(run_id="cs1111111111-20261126T000000", training={**fp32["training"], "precision": "fp32"})
    (folder / "cs-fp32.json").write_text(json.dumps(fp32))
    rows, _ = table()
    assert "| +0.000 (+0.000) | 0 of 7 |" in rows["code-switch"]

    for name in ("zero", "cs", "gpu-zero", "cs-fp32"):  # the same runs named cpu-v1: its bf16 ones are left out
        path = folder / f"{name}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "protocol": "cpu-v1"}))
    rows, err = table("cpu-v1")
    assert not any("bf16" in variant for variant in rows)
    assert "| +0.000 (+0.000) | 0 of 7 |" in rows["code-switch"]
    assert "left out 2 record(s) that name protocol cpu-v1 without following it" in err


def test_per_language_pairs_each_seed_with_its_own_zero_shot(tmp_path, monkeypatch, capsys):
    script = _script()
    folder = tmp_path / "sentiment"
    folder.mkdir()
    for seed in (42, 43):
        zero = _committed_zero_shot(seed)
        (folder / f"zero{seed}.json").write_text(json.dumps(zero))
        switched = copy.deepcopy(zero)  # +0.02 on French, -0.01 on Arabic, the rest as zero-shot's
        switched.update(method="code-switch", run_id=f"cs00000000{seed}-20261126T000000")
        switched["config"].update(method="code-switch")
        switched["metrics"]["fr"]["macro_f1"] += 0.02
        switched["metrics"]["ar"]["macro_f1"] -= 0.01
        (folder / f"cs{seed}.json").write_text(json.dumps(switched))
    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path),
                                     "--per-language", "sentiment", "code-switch"])
    script.main()
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "code-switch: 2 seed(s) [42, 43]" in out
    assert rows["fr"].endswith("| +0.020 |") and rows["ar"].endswith("| -0.010 |")
    assert rows["pt"].endswith("| +0.000 |")
    assert "en (trained on)" in rows
    assert "higher than zero-shot on 1 of 7 targets" in out

    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path),
                                     "--per-language", "sentiment", "few-shot"])
    try:
        script.main()
    except SystemExit as exc:
        assert "no sentiment runs of variant 'few-shot'" in str(exc) and "code-switch" in str(exc)
    else:
        raise AssertionError("an unknown variant must be refused")


def test_a_target_that_is_the_baselines_own_source_is_never_compared(tmp_path, monkeypatch, capsys):
    """Multi-source from es+de scores English as a target: zero-shot's English score is in-language, no
    baseline, so the run is left unpaired rather than compared against it."""
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    multi = copy.deepcopy(zero)
    multi.update(method="multi-source", run_id="ms0000000000-20261126T000000", source_languages=["es", "de"])
    multi["config"].update(method="multi-source", source_languages=["es", "de"])
    targets = ["ar", "en", "fr", "hi", "it", "pt"]
    multi["summary"].update(target_languages=targets,
                            target_average=sum(multi["metrics"][t]["macro_f1"] for t in targets) / len(targets))
    (folder / "multi.json").write_text(json.dumps(multi))
    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path)])
    script.main()
    row = [line for line in capsys.readouterr().out.splitlines() if "| multi-source (es+de) |" in line][0]
    mean = multi["summary"]["target_average"]
    assert row.endswith(f"| {mean:.3f} (1 seed, no spread) |  |  |  | several sources beat any single one |")


def test_a_rerun_replaces_only_its_own_cell_never_a_run_of_another_model_or_evaluation(tmp_path, monkeypatch,
                                                                                       capsys):
    """The table kept one run per (variant, seed) before pairing: a newer run of another model or a smaller
    evaluation silently replaced the comparable one."""
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    run = copy.deepcopy(zero)
    run.update(method="translate-train", run_id="tt0000000000-20261126T000000")
    run["config"].update(method="translate-train", target_languages=["es"])
    run["metrics"]["es"]["macro_f1"] += 0.01
    run["summary"].update(target_languages=["es"], target_average=run["metrics"]["es"]["macro_f1"])
    (folder / "tt.json").write_text(json.dumps(run))
    other = copy.deepcopy(run)  # newer, on a debug-sized evaluation: pairs with nothing, replaces nothing
    other.update(run_id="tt1111111111-20261127T000000", created="2099-01-01T00:00:00+00:00")
    other["metrics"]["es"].update(n=10, macro_f1=0.1)
    other["summary"]["target_average"] = 0.1
    (folder / "tt-small.json").write_text(json.dumps(other))
    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path)])
    script.main()
    row = [line for line in capsys.readouterr().out.splitlines() if "| translate-train → es |" in line][0]
    assert "+0.010 (+0.010) | 1 of 1 |" in row


def test_runs_scored_on_other_test_rows_are_never_paired(tmp_path, monkeypatch, capsys):
    """Pairing looked at the number of rows only: two different 1,500-row subsets of the same test file paired."""
    script = _script()
    folder, zero = _results_with_zero_shot(tmp_path)
    for scores in zero["metrics"].values():
        scores["rows"] = "sha256:0123456789abcdef"
    (folder / "zero.json").write_text(json.dumps(zero))
    run = copy.deepcopy(zero)
    run.update(method="translate-train", run_id="tt0000000000-20261126T000000")
    run["config"].update(method="translate-train", target_languages=["es"])
    for scores in run["metrics"].values():
        scores["rows"] = "sha256:fedcba9876543210"  # as many rows, other ones
    run["summary"].update(target_languages=["es"], target_average=run["metrics"]["es"]["macro_f1"])
    (folder / "tt.json").write_text(json.dumps(run))
    monkeypatch.setattr("sys.argv", ["methods_table.py", "--results", str(tmp_path)])
    script.main()
    row = [line for line in capsys.readouterr().out.splitlines() if "| translate-train → es |" in line][0]
    assert "(1 seed, no spread) |  |  |  |" in row  # no zero-shot run of the same rows: nothing compared
