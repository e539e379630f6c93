"""The method contract end to end with a test-only method, exact reproduction for every method, lazy listing."""

import json
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
import pytest

from xlt import cli
from xlt.config import ExperimentConfig, TrainConfig, field_kind
from xlt.errors import XltError
from xlt.methods import get_method, method_names

REPO = Path(__file__).resolve().parent.parent
TINY = dict(max_train_samples=16, max_eval_samples=8, epochs=1, batch_size=8, max_length=32, learning_rate=1e-3,
            save_steps=1)


@pytest.fixture(autouse=True)
def _plugin(monkeypatch):
    monkeypatch.setenv("XLT_PLUGINS", "tests.plugin_method")


def tiny_argv(model_dir, tmp_path, *extra):
    argv = ["train", "--task", "sentiment", "--method", "test-probe", "--model", str(model_dir), "--source", "en",
            "--targets", "en,de,fr", "--results-dir", str(tmp_path / "results"), "--save-model", str(tmp_path / "m"),
            "--output-dir", str(tmp_path / "run"), "--finetune", "lora", "--lora-targets", "query,value"]
    for key, value in TINY.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    return argv + list(extra)


def test_every_hook_through_the_cli_and_a_reload(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact
    from xlt.predict import Predictor
    from xlt.results.records import read_records

    code = cli.main(tiny_argv(tiny_model_dir, tmp_path, "--opt-shot-languages", "de", "--opt-bias", "3.0",
                              "--opt-note", "hello"))
    assert code == 0, capsys.readouterr().err
    (record,), errors = read_records(tmp_path / "results")
    assert not errors and record["method"] == "test-probe"
    # seen languages: English source + German shots; German stays a target, marked seen; French is zero-shot
    assert record["seen_languages"] == ["en", "de"] and record["summary"]["target_languages"] == ["de", "fr"]
    assert record["summary"]["seen_targets"] == ["de"]
    assert record["config"]["method_options"] == {"shot_languages": ["de"], "bias": 3.0, "note": "hello"}
    assert "shot_languages=['de']" in record["recipe"]
    # fit hook: the member trained in its own sub-run folder with its own seed
    assert record["training"]["member_seed"] == 43
    assert Path(record["training"]["member_output_dir"]) == tmp_path / "run" / "members" / "member-0"
    assert (tmp_path / "run" / "members" / "member-0" / "checkpoints").is_dir()
    # the artifact reloads after a "restart" as its own kind, and the prediction hook gets the language
    assert record["model_location"] == str((tmp_path / "m").resolve())
    artifact = load_artifact(tmp_path / "m")
    assert type(artifact).__name__ == "LangBiasArtifact" and artifact.info.method == "test-probe"
    texts = ["I love this", "Das ist schlecht"]
    de = artifact.predict_proba(texts, lang="de")
    fr = artifact.predict_proba(texts, lang="fr")
    assert (de[:, 0] > fr[:, 0]).all()  # the German bias favours class 0
    predictor = Predictor(tmp_path / "m")
    out = predictor.predict(["Das ist wirklich ein sehr schlechter Film, furchtbar."])
    assert predictor.artifact.calls[-1] == ["de"]  # the detected language reached the prediction hook
    assert np.isclose(sum(out[0].probabilities.values()), 1.0, atol=1e-4)
    # the record's command re-creates the very same experiment
    again = cli.config_from_command(record["command"])
    assert again.fingerprint() == record["config_fingerprint"]


def test_validation_errors_come_before_any_training(tiny_model_dir, tmp_path, capsys):
    code = cli.main(tiny_argv(tiny_model_dir, tmp_path, "--opt-shot-languages", "xx"))
    assert code == 2 and "shot_languages ['xx']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    code = cli.main(tiny_argv(tiny_model_dir, tmp_path, "--option", "shots=0"))
    assert code == 2 and "shots must be" in capsys.readouterr().err
    code = cli.main(tiny_argv(tiny_model_dir, tmp_path, "--option", "nonsense=1"))
    assert code == 2 and "has no option(s) ['nonsense']; its options:" in capsys.readouterr().err


def test_the_app_job_path_runs_the_plugin_method(tiny_model_dir, tmp_path):
    from xlt.jobs import JobStore, run_job
    from xlt.models.artifacts import load_artifact

    store = JobStore(tmp_path / "home" / "jobs")
    config = ExperimentConfig(task="sentiment", method="test-probe", model=str(tiny_model_dir),
                              target_languages=["en", "de"], method_options={"shot_languages": ["de"]},
                              train=TrainConfig(finetune="full", **TINY))
    job = store.submit(config)
    assert run_job(store.folder(job.id)) == 0
    job = store.get(job.id)
    assert job.state == "completed" and job.summary["target_languages"] == ["de"]
    assert job.summary["seen_targets"] == ["de"]
    record = json.loads(Path(job.record_path).read_text())
    assert record["seen_languages"] == ["en", "de"] and Path(job.record_path).is_relative_to(tmp_path / "home")
    assert type(load_artifact(job.model_dir)).__name__ == "LangBiasArtifact"


def _non_default_value(f):
    """A value of the field's type that differs from its default."""
    kind = field_kind(f)
    default = f.default if f.default is not MISSING else f.default_factory()
    if f.metadata.get("choices"):
        return next(c for c in f.metadata["choices"] if c != default)
    if kind.base == "bool":
        return not default
    if kind.base == "list":
        return ["de", "fr"] if kind.item == "str" else [1, 2]
    if kind.base == "int":
        return (default or 0) + 100
    if kind.base == "float":
        return (default or 0.0) + 0.25
    return "x y" if default is None else None if kind.optional else default + "-other"


@pytest.mark.parametrize("method", method_names() + ["test-probe"])
def test_config_record_command_config_keeps_the_fingerprint(method, tiny_model_dir, tmp_path):
    import tests.plugin_method  # noqa: F401  (the test method joins the parametrisation)
    from tests.test_tasks_and_hub_models import save_tiny_sequence_classifier
    from xlt.experiment import validate

    spec = get_method(method)
    options = {f.name: _non_default_value(f) for f in fields(spec.options_cls)}
    settings = dict(source_languages=["en"], target_languages=["de", "fr"], model="multilingual-e5-small")
    # the few settings a method needs to be valid at all
    if "shot_languages" in options:
        options["shot_languages"] = ["de"]
    if method in ("multi-source", "maml"):
        settings["source_languages"] = ["en", "es"]
    if method == "maml":
        options.update(inner_steps=3, tasks_per_step=2, support=4)
    if method == "translate-train":
        settings["target_languages"] = ["de"]
    if "translator" in options:
        options["translator"] = "dictionary"
    if "languages" in options:
        options["languages"] = ["de", "fr"]
    if "ratio" in options:
        options["ratio"] = 0.3
    if method == "pretrained":
        folder = tmp_path / "published"
        save_tiny_sequence_classifier(folder, tiny_model_dir, {0: "NEG", 1: "NEU", 2: "POS"})
        settings["model"] = str(folder)
        options["label_map"] = "NEG=negative,NEU=neutral,POS=positive"
    config = ExperimentConfig(task="sentiment", method=method, train_split="train+validation", method_options=options,
                              train=TrainConfig(finetune="lora", lora_targets="all-linear", epochs=2.5,
                                                max_train_samples=100, freeze_embeddings=False, warmup_ratio=0.05,
                                                learning_rate=3e-4, max_eval_samples=None), **settings)
    validate(config)
    restored = ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored.fingerprint() == config.fingerprint()
    again = cli.config_from_command(config.to_command())
    assert again.to_dict() == config.to_dict() and again.fingerprint() == config.fingerprint()


def test_listing_methods_tasks_and_models_imports_no_torch():
    code = ("import sys; from xlt.cli import main\n"
            "for c in ('methods', 'tasks', 'models'): main([c])\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "zero-shot" in out.stdout


def test_committed_records_keep_their_identity_when_settings_are_added():
    """A record written before a setting existed lacks it; with the setting at its default the fingerprint
    must not change. Simulated for every setting: drop each default-valued key from each committed config."""
    from xlt.results.records import read_records

    records, errors = read_records(REPO / "leaderboard" / "results")
    assert len(records) >= 7 and not errors
    defaults = TrainConfig().to_dict()
    for record in records:
        config = ExperimentConfig.from_dict(record["config"])
        assert record["config_fingerprint"] == config.fingerprint()
        older = dict(record["config"], train={k: v for k, v in record["config"]["train"].items()
                                              if v != defaults[k]})
        assert ExperimentConfig.from_dict(older).fingerprint() == config.fingerprint()
        if record["method"] == "zero-shot":  # version-1 records read as version 2: seen = sources
            assert record["seen_languages"] == record["source_languages"]


def test_options_of_other_types_are_refused_with_a_message():
    import tests.plugin_method  # noqa: F401
    from xlt.experiment import validate

    with pytest.raises(XltError, match="ProbeOptions"):
        validate(ExperimentConfig(task="sentiment", method="test-probe", method_options={"shots": "three"}))


@pytest.mark.parametrize("plugins", [".", "no_such_module_xyz", "tests.plugin_method,,."])
def test_a_plugin_that_cannot_be_imported_is_one_message(monkeypatch, plugins):
    """`XLT_PLUGINS=.` raised a TypeError traceback: only ImportError was caught."""
    from xlt.errors import XltError
    from xlt.methods.registry import get_method

    monkeypatch.setenv("XLT_PLUGINS", plugins)
    with pytest.raises(XltError, match="XLT_PLUGINS names .* which cannot be imported"):
        get_method("zero-shot")
