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


def test_a_refit_head_is_the_regression_on_the_merged_features(tiny_model_dir, tmp_path):
    """head=refit: the encoder as merged (here λ = 0.5), the head a logistic regression on its features of the
    members' rows: the frozen-embedding fit on that encoder."""
    from xlt.data import texts_of
    from xlt.inference import pooled_features

    method, ctx = _context(tiny_model_dir, tmp_path, ["en", "de"], scale=0.5, head="refit")
    refit = method.run(ctx)
    _, average_ctx = _context(tiny_model_dir, tmp_path, ["en", "de"], scale=0.5)
    averaged = method.run(average_ctx)
    for name, weight in averaged.model.encoder.state_dict().items():
        assert torch.equal(refit.model.encoder.state_dict()[name], weight), name  # the same merged encoder
    assert refit.stats["linear_probe_examples"] == 80
    assert not torch.allclose(refit.model.head.weight, averaged.model.head.weight)
    import datasets

    rows = datasets.concatenate_datasets([method.training_data(method.member_context(ctx, lang))
                                          for lang in ("en", "de")])
    x = torch.from_numpy(pooled_features(refit.model, refit.tokenizer, *texts_of(ctx.task, rows),
                                         prefix=ctx.model_spec.text_prefix, max_length=32))
    head = refit.model.head
    weight, bias = head.weight.detach().clone().requires_grad_(), head.bias.detach().clone().requires_grad_()
    loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, torch.tensor(rows["label"])) \
        + 0.5 / 80 * weight.pow(2).sum()
    loss.backward()
    assert weight.grad.abs().max() < 1e-3 and bias.grad.abs().max() < 1e-3  # the regression's optimum


def test_ties_trims_one_member_and_scales_it_untrimmed(tiny_model_dir, tmp_path):
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model

    base = load_encoder(resolve_model(str(tiny_model_dir))).state_dict()
    method, ctx = _context(tiny_model_dir, tmp_path, ["en"], combination="ties", density=1.0, scale=0.5)
    whole = method.run(ctx).model.encoder.state_dict()
    ((_, state),) = _members(method, ctx)
    for k, weight in base.items():  # one vector, nothing trimmed: the vector itself, scaled
        assert torch.allclose(whole[k], weight + 0.5 * (state[k] - weight), atol=1e-6), k
    method, ctx = _context(tiny_model_dir, tmp_path, ["en"], combination="ties", density=0.2)
    trimmed = method.run(ctx).model.encoder.state_dict()
    for name in (k for k in base if k.endswith(("query.weight", "value.weight"))):
        kept = (trimmed[name] != base[name]).float().mean().item()
        assert 0.15 <= kept <= 0.21, (name, kept)  # the largest 20% of the task vector's values, the rest reset
        changed = trimmed[name] != base[name]
        assert torch.allclose(trimmed[name][changed], state[name][changed], atol=1e-6)


@pytest.mark.parametrize("sources, extra, message", [
    ("en", [], "one source merged at scale 1.0 with nothing trimmed is the zero-shot model itself"),
    ("en,de", ["--opt-scale", "0"], "scale must be in (0, 4]"),
    ("en,de", ["--opt-combination", "ties", "--opt-density", "1.5"], "density must be in (0, 1]"),
    ("en,de", ["--opt-combination", "mean"], "combination"),
    ("en,de", ["--opt-density", "0.5"], "density trims task vectors for combination=ties only"),
    ("en", ["--opt-combination", "ties", "--opt-density", "1"], "is the zero-shot model itself"),
    ("en,de", ["--opt-scale", "5"], "scale must be in (0, 4]"),
    ("en,de", ["--opt-head", "mean"], "head"),
])
def test_bad_settings_before_any_training(tiny_model_dir, tmp_path, capsys, sources, extra, message):
    assert cli.main(argv(tiny_model_dir, tmp_path, sources, *extra)) == 2
    assert message in capsys.readouterr().err
    runs = tmp_path / "xlt-home" / "runs"  # where the members (zero-shot runs) would train
    assert not runs.exists() or not any(runs.rglob("checkpoints"))


def test_a_zero_shot_run_is_a_member_and_the_rest_train(tiny_model_dir, tmp_path, capsys):
    """A zero-shot run from de made by `xlt train` is the merge's de member: only en is left to train."""
    zero_shot = [a if a != "model-merging" else "zero-shot" for a in argv(tiny_model_dir, tmp_path, "de")]
    zero_shot = zero_shot[:zero_shot.index("--output-dir")]  # its default folder, $XLT_HOME/runs/<config hash>
    assert cli.main(zero_shot) == 0, capsys.readouterr().err
    method, ctx = _context(tiny_model_dir, tmp_path, ["en", "de"])
    assert method.remaining_train_size(ctx, {"en": 40, "de": 40}) == 40.0
    assert method.train_size(ctx, {"en": 400, "de": 400}) == 80.0  # each member capped by max_train_samples
    assert cli.main(argv(tiny_model_dir, tmp_path, "en,de")) == 0, capsys.readouterr().err
    records, _ = read_records(tmp_path / "results")
    merged = next(r for r in records if r["method"] == "model-merging")
    en, de = merged["training"]["members"]
    assert en["resumed_from_checkpoint"] is None and de["resumed_from_checkpoint"]  # de: finished, found
    assert merged["train_seconds"] >= en["train_seconds"] + de["train_seconds"]


def test_ties_of_two_members_against_a_reference():
    """Two task vectors with conflicting signs: each trimmed to its top half by magnitude, signs elected by total
    mass, the agreeing values averaged, times λ; linear: λ times the mean."""
    from xlt.errors import XltError
    from xlt.methods.model_merging import merge_task_vectors

    rng = np.random.default_rng(0)
    base = {"w": torch.tensor(rng.normal(size=(4, 6)), dtype=torch.float32), "steps": torch.tensor([3]),
            "frozen": torch.ones(5)}
    a, b = (rng.normal(size=(4, 6)) for _ in range(2))
    b[:2] = -1.5 * a[:2]  # two rows where the members pull opposite ways
    members = [{"w": base["w"] + torch.tensor(d, dtype=torch.float32), "steps": torch.tensor([9]),
                "frozen": torch.ones(5)} for d in (a, b)]

    def trim(x, density):
        keep = np.zeros(x.size, bool)
        keep[np.argsort(-np.abs(x).ravel())[:int(density * x.size)]] = True
        return np.where(keep.reshape(x.shape), x, 0.0)

    stacked = np.stack([trim(a, 0.5), trim(b, 0.5)])
    assert ((np.sign(stacked[0]) * np.sign(stacked[1])) < 0).any()  # the two disagree somewhere
    sign = np.where(stacked.sum(0) >= 0, 1.0, -1.0)
    agree = (np.sign(stacked) == sign) & (stacked != 0)
    expected = 0.7 * (stacked * agree).sum(0) / np.maximum(agree.sum(0), 1)
    merged = merge_task_vectors(base, members, "ties", 0.7, 0.5)
    assert set(merged) == {"w"}  # integer buffers and untouched weights are not merged
    assert np.allclose((merged["w"] - base["w"]).numpy(), expected, atol=1e-6)
    linear = merge_task_vectors(base, members, "linear", 0.7, 0.2)
    assert np.allclose((linear["w"] - base["w"]).numpy(), 0.7 * (a + b) / 2, atol=1e-6)
    with pytest.raises(XltError, match="do not name their weights as the pre-trained encoder does"):
        merge_task_vectors(base, [{"w": members[0]["w"]}, members[1]], "linear", 1.0, 0.2)
    with pytest.raises(XltError, match="nothing to merge"):
        merge_task_vectors(base, [dict(base), dict(base)], "linear", 1.0, 0.2)
