"""model-merging: members trained as zero-shot runs, their task vectors merged (linear, TIES), saved and served."""

import json

import numpy as np
import pytest
import torch

from xlt import cli
from xlt.results.records import read_records

TRAIN = ["--finetune", "lora", "--lora-targets", "query,value", "--epochs", "1", "--batch-size", "8",
         "--learning-rate", "1e-2", "--max-train-samples", "40", "--max-eval-samples", "12", "--max-length", "32"]


def argv(model_dir, tmp_path, sources, *extra):
    return ["train", "--task", "sentiment", "--method", "model-merging", "--model", str(model_dir), "--source",
            sources, "--targets", "en,de,fr", *TRAIN, "--results-dir", str(tmp_path / "results"), "--output-dir",
            str(tmp_path / "run"), *extra]


def _context(model_dir, tmp_path, sources, **options):
    from xlt.config import ExperimentConfig, TrainConfig
    from xlt.experiment import validate

    config = ExperimentConfig(task="sentiment", method="model-merging", model=str(model_dir),
                              source_languages=sources, target_languages=["en", "de", "fr"], method_options=options,
                              train=TrainConfig(finetune="lora", lora_targets="query,value", epochs=1.0, batch_size=8,
                                                learning_rate=1e-2, max_train_samples=40, max_eval_samples=12,
                                                max_length=32))
    validated = validate(config)
    return validated.method, validated.context(tmp_path / "run")


def _members(method, ctx):
    """The members as their zero-shot runs left them, each encoder with its adapter folded in."""
    from xlt.methods.base import zero_shot_run_folder
    from xlt.methods.model_merging import _encoder_state
    from xlt.training import train_classifier

    out = []
    for lang in ctx.experiment.source_languages:
        member = method.member_context(ctx, lang)
        trained = train_classifier(ctx.task, ctx.model_spec, method.training_data(member), ctx.train,
                                   zero_shot_run_folder(member), languages=[lang])
        out.append((trained, _encoder_state(trained)))
    return out


def test_linear_merge_is_the_mean_task_vector_and_serves(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model
    from xlt.predict import Predictor

    assert cli.main(argv(tiny_model_dir, tmp_path, "en,de", "--save-model", str(tmp_path / "m"))) == 0, \
        capsys.readouterr().err
    (record,), errors = read_records(tmp_path / "results")
    assert not errors and record["method"] == "model-merging"
    assert record["seen_languages"] == ["en", "de"] and record["summary"]["target_languages"] == ["fr"]
    training = record["training"]
    assert [m["source"] for m in training["members"]] == ["en", "de"]
    assert training["train_examples"] == 80 and training["train_steps"] == 10 and training["merged_tensors"] == 4
    info = json.loads((tmp_path / "m" / "xlt_classifier.json").read_text())
    assert info["finetune"] == "full" and info["languages_trained"] == ["en", "de"]

    # the members are the zero-shot runs from en and from de (their folders: trained once, found finished here)
    method, ctx = _context(tiny_model_dir, tmp_path, ["en", "de"])
    assert method.remaining_train_size(ctx, {"en": 40, "de": 40}) == 0.0
    members = _members(method, ctx)
    assert all(m.stats["train_steps"] == 5 and m.stats["resumed_from_checkpoint"] for m, _ in members)
    base = load_encoder(resolve_model(str(tiny_model_dir))).state_dict()
    saved = load_artifact(tmp_path / "m")
    merged = saved.model.encoder.state_dict()
    lora_touched = [k for k in base if k.endswith(("query.weight", "value.weight"))]
    assert len(lora_touched) == 4
    for name, weight in base.items():
        expected = weight + sum(state[name] - weight for _, state in members) / 2
        assert torch.allclose(merged[name], expected, atol=1e-6), name
        if name in lora_touched:  # each member moved it, differently
            assert not torch.allclose(members[0][1][name], members[1][1][name])
    heads = [m.model.head.weight for m, _ in members]
    assert torch.allclose(saved.model.head.weight, (heads[0] + heads[1]) / 2, atol=1e-6)
    texts = ["I love this", "Das ist schlecht", "C'est nul"]
    out = Predictor(tmp_path / "m").predict(texts)
    assert np.allclose([list(p.probabilities.values()) for p in out], saved.predict_proba(texts), atol=1e-4)
    assert cli.config_from_command(record["command"]).fingerprint() == record["config_fingerprint"]


def test_one_source_scaled_toward_the_pretrained_encoder(tiny_model_dir, tmp_path):
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model

    method, ctx = _context(tiny_model_dir, tmp_path, ["en"], scale=0.5)
    merged = method.run(ctx)
    ((member, state),) = _members(method, ctx)  # the zero-shot run from en, as the merge found it
    base = load_encoder(resolve_model(str(tiny_model_dir))).state_dict()
    got = merged.model.encoder.state_dict()
    for name, weight in base.items():
        assert torch.allclose(got[name], weight + 0.5 * (state[name] - weight), atol=1e-6), name
    assert torch.equal(merged.model.head.weight, member.model.head.weight)  # the head kept as trained
    assert merged.stats["members"][0]["source"] == "en"


def test_ties_trims_and_keeps_one_member_whole_at_full_density(tiny_model_dir, tmp_path):
    method, ctx = _context(tiny_model_dir, tmp_path, ["en"], combination="ties", density=1.0)
    whole = method.run(ctx).model.encoder.state_dict()
    ((_, state),) = _members(method, ctx)
    assert all(torch.allclose(whole[k], state[k], atol=1e-6) for k in state)  # one vector, nothing trimmed: itself
    method, ctx = _context(tiny_model_dir, tmp_path, ["en"], combination="ties", density=0.2)
    trimmed = method.run(ctx).model.encoder.state_dict()
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model

    base = load_encoder(resolve_model(str(tiny_model_dir))).state_dict()
    for name in (k for k in base if k.endswith(("query.weight", "value.weight"))):
        kept = (trimmed[name] != base[name]).float().mean().item()
        assert 0.15 <= kept <= 0.21, (name, kept)  # the largest 20% of the task vector's values, the rest reset
        changed = trimmed[name] != base[name]
        assert torch.allclose(trimmed[name][changed], state[name][changed], atol=1e-6)


@pytest.mark.parametrize("sources, extra, message", [
    ("en", [], "one source merged linearly at scale 1.0 is the zero-shot model itself"),
    ("en,de", ["--opt-scale", "0"], "scale must be in (0, 4]"),
    ("en,de", ["--opt-combination", "ties", "--opt-density", "1.5"], "density must be in (0, 1]"),
    ("en,de", ["--opt-combination", "mean"], "combination"),
    ("en,de", ["--opt-scale", "5"], "scale must be in (0, 4]"),
])
def test_bad_settings_before_any_training(tiny_model_dir, tmp_path, capsys, sources, extra, message):
    assert cli.main(argv(tiny_model_dir, tmp_path, sources, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").rglob("checkpoints"))
