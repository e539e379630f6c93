"""Training, saving, loading and resuming, on a tiny random model (plumbing only)."""

import dataclasses

import numpy as np
import pytest
import torch

from xlt.config import TrainConfig
from xlt.experiment import ExperimentConfig, run_experiment
from xlt.models.loading import load_classifier
from xlt.results.records import read_records


def tiny_config(model_dir, finetune="full", **train):
    settings = dict(finetune=finetune, max_train_samples=24, max_eval_samples=12, epochs=1, batch_size=8,
                    max_length=32, learning_rate=1e-3, save_steps=1)
    settings.update(train)
    return ExperimentConfig(task="sentiment", model=str(model_dir), source_languages=["en"],
                            target_languages=["en", "de"], train=TrainConfig(**settings))


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_train_save_reload_gives_identical_predictions(tiny_model_dir, tmp_path, finetune):
    config = tiny_config(tiny_model_dir, finetune, lora_targets="query,value")
    record = run_experiment(config, results_dir=tmp_path / "results", save_model_to=tmp_path / "clf",
                            output_dir=tmp_path / "run", show_progress=False)
    assert set(record["metrics"]) == {"en", "de"} and record["metrics"]["de"]["n"] == 12
    assert record["summary"]["target_languages"] == ["de"]
    assert record["training"]["train_steps"] == 3 and record["train_examples_per_second"] > 0
    assert record["command"].startswith("xlt train --task sentiment")
    records, errors = read_records(tmp_path / "results")
    assert len(records) == 1 and not errors
    saved = sorted(p.name for p in (tmp_path / "clf").iterdir())
    assert ("adapter" in saved) == (finetune == "lora") and "head.safetensors" in saved
    if finetune == "lora":  # an adapter is small: no copy of the encoder
        size = sum(f.stat().st_size for f in (tmp_path / "clf").rglob("*") if f.is_file())
        assert size < 1_000_000
    model, tokenizer, info = load_classifier(tmp_path / "clf")
    from xlt.inference import predict_proba

    texts = ["I love this!", "Das ist furchtbar.", "meh"]
    merged = predict_proba(model, tokenizer, texts, max_length=32)
    unmerged_model, _, _ = load_classifier(tmp_path / "clf", merge=False)
    unmerged = predict_proba(unmerged_model, tokenizer, texts, max_length=32)
    assert np.allclose(merged, unmerged, atol=1e-5)
    # the reloaded head is the trained one, not a fresh random init
    assert not np.allclose(merged, 1 / 3, atol=1e-4)
    assert info.task == "sentiment" and info.label_names == ["negative", "neutral", "positive"]


def test_interrupted_run_resumes_from_its_checkpoint(tiny_model_dir, tmp_path):
    from transformers import TrainerCallback

    class StopAfterTwoSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt  # what a killed job looks like to the loop

    config = tiny_config(tiny_model_dir, max_train_samples=32)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, output_dir=tmp_path / "run", callbacks=[StopAfterTwoSteps()], show_progress=False)
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-1").is_dir()
    record = run_experiment(config, output_dir=tmp_path / "run", show_progress=False)
    assert record["training"]["resumed_from_checkpoint"] == "checkpoint-1"
    assert record["training"]["train_steps"] == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU `auto` is half precision: float32 has no twin")
def test_a_run_resumes_its_precision_twins_checkpoints(tiny_model_dir, tmp_path, monkeypatch):
    """On a CPU `auto` trains in float32: `--precision fp32` (a GPU-comparable grid run here) picks up the
    interrupted `auto` run of the same settings in its run folder, and the other way round; a twin folder
    that trained otherwise (a home shared with a GPU machine) or says nothing is never taken."""
    import json

    from transformers import TrainerCallback

    from xlt import training
    from xlt.run_folders import precision_twins, run_folder
    from xlt.settings import home_dir

    class StopAfterTwoSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    auto = tiny_config(tiny_model_dir, max_train_samples=32)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(auto, callbacks=[StopAfterTwoSteps()], show_progress=False)
    fp32 = tiny_config(tiny_model_dir, max_train_samples=32, precision="fp32")
    assert fp32.fingerprint() != auto.fingerprint()
    assert run_folder(fp32) == home_dir() / "runs" / auto.fingerprint()
    record = run_experiment(fp32, show_progress=False)
    assert record["training"]["resumed_from_checkpoint"] == "checkpoint-1" and record["config_fingerprint"] == \
        fp32.fingerprint()
    assert record["training"]["train_steps"] == 4 and record["training"]["precision"] == "fp32"
    assert not (home_dir() / "runs" / fp32.fingerprint()).exists()  # trained on in the twin's folder
    other = tiny_config(tiny_model_dir, max_train_samples=32, seed=7)
    twin = home_dir() / "runs" / other.fingerprint()
    twin.mkdir(parents=True)  # an `auto` folder that trained in bf16 on a GPU, then says nothing at all
    (twin / "trained_as.json").write_text(json.dumps({"precision": "bf16", "world_size": 1}))
    other_fp32 = tiny_config(tiny_model_dir, max_train_samples=32, seed=7, precision="fp32")
    assert run_folder(other_fp32) == home_dir() / "runs" / other_fp32.fingerprint()
    (twin / "trained_as.json").unlink()
    assert run_folder(other_fp32) == home_dir() / "runs" / other_fp32.fingerprint()
    (twin / "trained_as.json").write_text(json.dumps({"precision": "fp32", "world_size": 1}))
    assert run_folder(other_fp32) == twin
    monkeypatch.setenv("WORLD_SIZE", "2")  # several processes do not resume a one-process folder
    assert run_folder(other_fp32) == home_dir() / "runs" / other_fp32.fingerprint()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setattr(training, "resolved_precision", lambda precision: "bf16" if precision == "auto" else precision)
    assert precision_twins(fp32) == [fp32]  # on a GPU `auto` is bf16: float32 has no twin there
    assert [c.train.precision for c in precision_twins(auto)] == ["auto", "bf16"]


def test_same_seed_same_numbers(tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir)
    a = run_experiment(config, output_dir=tmp_path / "a", show_progress=False)
    b = run_experiment(config, output_dir=tmp_path / "b", show_progress=False)
    assert a["metrics"] == b["metrics"]
    assert a["training"]["loss_curve"] == b["training"]["loss_curve"]
    assert a["training"]["final_train_loss"] == b["training"]["final_train_loss"]
    other = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=7))
    c = run_experiment(other, output_dir=tmp_path / "c", show_progress=False)
    assert c["training"]["final_train_loss"] != a["training"]["final_train_loss"]  # the check can fail


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_saved_classifier_reloads_to_the_trained_model(tiny_model_dir, tmp_path, data_dir, finetune):
    from xlt.data import load_split
    from xlt.models.loading import save_classifier
    from xlt.models.registry import resolve_model
    from xlt.tasks import get_task
    from xlt.training import train_classifier

    task = get_task("nli")
    train_ds = load_split(task, "en", "validation", data_dir, max_samples=16)
    config = TrainConfig(finetune=finetune, epochs=1, batch_size=8, max_length=48, learning_rate=1e-3)
    trained = train_classifier(task, resolve_model(str(tiny_model_dir)), train_ds, config, tmp_path / "run")
    premises, hypotheses = ["A man is sleeping.", "Ein Hund bellt."], ["Nobody sleeps.", "Ein Tier macht Lärm."]
    expected = trained.predict_proba(premises, hypotheses)
    save_classifier(trained.model, trained.tokenizer, trained.info, tmp_path / "clf")
    model, tokenizer, info = load_classifier(tmp_path / "clf")
    from xlt.inference import predict_proba

    assert np.allclose(predict_proba(model, tokenizer, premises, hypotheses, max_length=48), expected, atol=1e-5)
    assert info.text_fields == ["premise", "hypothesis"]


def test_half_written_checkpoint_is_skipped(tmp_path):
    from xlt.training import last_complete_checkpoint

    ckpts = tmp_path / "checkpoints"
    (ckpts / "checkpoint-5").mkdir(parents=True)
    (ckpts / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}')
    (ckpts / "checkpoint-10").mkdir()
    (ckpts / "checkpoint-10" / "model.safetensors").write_bytes(b"partial")  # killed while saving
    (ckpts / "checkpoint-12").mkdir()
    (ckpts / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # killed mid-write
    assert last_complete_checkpoint(ckpts) == str(ckpts / "checkpoint-5")
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-5"]
    assert last_complete_checkpoint(tmp_path / "nothing") is None


@pytest.mark.parametrize("finetune,targets", [("full", ""), ("lora", "query,value"), ("lora", "all-linear")])
def test_freeze_layers_trains_only_the_layers_above(tiny_model_dir, finetune, targets):
    from xlt.models.registry import resolve_model
    from xlt.training import build_classifier

    config = TrainConfig(finetune=finetune, freeze_layers=1, lora_targets=targets)
    model = build_classifier(resolve_model(str(tiny_model_dir)), 3, config)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("layer.0." not in name and "embeddings" not in name for name in trainable)
    assert any("layer.1." in name for name in trainable) and "head.weight" in trainable


def test_freeze_layers_must_leave_something_to_train(tiny_model_dir):
    from xlt.errors import XltError
    from xlt.models.registry import resolve_model
    from xlt.training import build_classifier

    with pytest.raises(XltError, match="leaves nothing to train"):
        build_classifier(resolve_model(str(tiny_model_dir)), 3, TrainConfig(freeze_layers=2))
    with pytest.raises(XltError, match="freeze_layers"):
        TrainConfig(freeze_layers=-1)


def test_old_records_still_match_after_a_setting_is_added(tiny_model_dir, tmp_path):
    import json

    from xlt.results.records import find_records

    config = tiny_config(tiny_model_dir)
    record = run_experiment(config, results_dir=tmp_path / "results", output_dir=tmp_path / "run",
                            show_progress=False)
    path = next((tmp_path / "results").rglob("*.json"))
    old = json.loads(path.read_text())
    del old["config"]["train"]["freeze_layers"]  # as written before the setting existed
    old["config_fingerprint"] = "000000000000"
    path.write_text(json.dumps(old))
    assert [r["run_id"] for r in find_records(tmp_path / "results", config.fingerprint())] == [record["run_id"]]


def _train_tiny(tiny_model_dir, data_dir, out, callbacks=(), encoder=None, **train):
    from xlt.data import load_split
    from xlt.models.registry import resolve_model
    from xlt.tasks import get_task
    from xlt.training import train_classifier

    task = get_task("sentiment")
    settings = dict(finetune="lora", lora_targets="query,value", epochs=3, batch_size=8, max_length=32,
                    learning_rate=1e-2, save_steps=1, dropout=0.0, lora_dropout=0.0)
    settings.update(train)
    train_ds = load_split(task, "en", "train", data_dir, max_samples=16)
    return train_classifier(task, resolve_model(str(tiny_model_dir)), train_ds, TrainConfig(**settings), out,
                            callbacks=list(callbacks), encoder=encoder)


def _trainable(model):
    return {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}


def test_checkpoint_averaging_is_the_mean_of_the_last_epochs(tiny_model_dir, data_dir, tmp_path):
    from transformers import TrainerCallback

    snapshots = []

    class Snap(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            snapshots.append(_trainable(model))

    trained = _train_tiny(tiny_model_dir, data_dir, tmp_path / "run", [Snap()], average_last_epochs=2)
    assert len(snapshots) == 3 and trained.stats["checkpoint_average_epochs"] == [2, 3]
    final = _trainable(trained.model)
    assert not torch_allclose(snapshots[1], snapshots[2])
    for name, value in final.items():
        assert torch.allclose(value, (snapshots[1][name] + snapshots[2][name]) / 2, atol=1e-6)


def test_checkpoint_averaging_counts_a_fractional_last_epoch(tiny_model_dir, data_dir, tmp_path):
    trained = _train_tiny(tiny_model_dir, data_dir, tmp_path / "run", epochs=1.5, average_last_epochs=2,
                          max_train_samples=None)
    assert trained.stats["checkpoint_average_epochs"] == [1, 2]


def test_checkpoint_average_survives_a_resume(tiny_model_dir, data_dir, tmp_path):
    from transformers import TrainerCallback

    class StopInThirdEpoch(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:  # 2 steps an epoch: epoch ends at steps 2 and 4 are summed
                raise KeyboardInterrupt

    whole = _train_tiny(tiny_model_dir, data_dir, tmp_path / "whole", average_last_epochs=3)
    with pytest.raises(KeyboardInterrupt):
        _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut", [StopInThirdEpoch()], average_last_epochs=3)
    resumed = _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut", average_last_epochs=3)
    assert resumed.stats["resumed_from_checkpoint"] == "checkpoint-4"
    assert resumed.stats["checkpoint_average_epochs"] == [1, 2, 3]
    assert torch_allclose(_trainable(whole.model), _trainable(resumed.model))


def test_a_resumed_training_counts_the_time_before_the_kill(tiny_model_dir, data_dir, tmp_path):
    """`train_seconds` is what the whole training took: the checkpoint carries the time spent before it."""
    import time

    from transformers import TrainerCallback

    from xlt.training import TrainClock

    class SlowThenKilled(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(0.3)
            if state.global_step == 5:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut", [SlowThenKilled()])
    saved = TrainClock.from_checkpoint(str(tmp_path / "cut" / "checkpoints" / "checkpoint-4")).before
    assert saved >= 4 * 0.3  # four slow steps before that checkpoint was written
    resumed = _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut")
    assert resumed.stats["resumed_from_checkpoint"] == "checkpoint-4"
    assert resumed.stats["train_seconds"] == pytest.approx(saved + resumed.stats["train_seconds_this_run"], abs=0.02)
    assert TrainClock.from_checkpoint(str(tmp_path / "nowhere")).before == 0.0  # no checkpoint: from zero
    assert "train_seconds_partial" not in resumed.stats
    assert resumed.stats["precision"] == "fp32"  # 'auto' on a CPU


def test_a_checkpoint_from_before_the_clock_resumes_and_says_its_time_is_partial(tiny_model_dir, data_dir,
                                                                                  tmp_path):
    import json

    from transformers import TrainerCallback

    class KilledAtStep5(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut", [KilledAtStep5()], epochs=4)
    for state_file in (tmp_path / "cut" / "checkpoints").glob("checkpoint-*/trainer_state.json"):
        state = json.loads(state_file.read_text())
        del state["stateful_callbacks"]["TrainClock"]  # as an older xlt wrote it
        state_file.write_text(json.dumps(state))
    resumed = _train_tiny(tiny_model_dir, data_dir, tmp_path / "cut", epochs=4)  # saves again at steps 6-8
    assert resumed.stats["resumed_from_checkpoint"] == "checkpoint-4" and resumed.stats["train_steps"] == 8
    assert resumed.stats["train_seconds_partial"] is True
    assert resumed.stats["train_seconds"] == resumed.stats["train_seconds_this_run"]


def torch_allclose(a: dict, b: dict, atol: float = 1e-6) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=atol) for k in a)


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_cut_encoder_trains_saves_and_reloads(tiny_model_dir, data_dir, tmp_path, finetune):
    from xlt.inference import predict_proba
    from xlt.models.layers import transformer_layers
    from xlt.models.loading import save_classifier

    trained = _train_tiny(tiny_model_dir, data_dir, tmp_path / "run", epochs=1, finetune=finetune,
                          encoder_layers=1)
    assert len(transformer_layers(trained.model.encoder)) == 1 and trained.info.encoder_layers == 1
    texts = ["I love this!", "Das ist furchtbar."]
    expected = trained.predict_proba(texts)
    save_classifier(trained.model, trained.tokenizer, trained.info, tmp_path / "clf")
    model, tokenizer, info = load_classifier(tmp_path / "clf")
    assert len(transformer_layers(model.encoder)) == 1
    assert np.allclose(predict_proba(model, tokenizer, texts, max_length=32), expected, atol=1e-5)


def test_encoder_layers_settings_are_checked(tiny_model_dir):
    from xlt.errors import XltError
    from xlt.models.registry import resolve_model
    from xlt.training import build_classifier

    with pytest.raises(XltError, match="out of range"):
        build_classifier(resolve_model(str(tiny_model_dir)), 3, TrainConfig(encoder_layers=5))
    with pytest.raises(XltError, match="must be below encoder_layers"):
        TrainConfig(encoder_layers=2, freeze_layers=2)


def test_supervised_contrastive_loss_matches_its_definition():
    from xlt.models.classifier import supervised_contrastive_loss

    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(6, 4), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])  # the lone 2 has no partner: not an anchor
    t = 0.1
    terms = []
    for i in range(6):
        others = [a for a in range(6) if a != i]
        partners = [p for p in others if labels[p] == labels[i]]
        if not partners:
            continue
        denom = torch.logsumexp(torch.stack([z[i] @ z[a] / t for a in others]), 0)
        terms.append(-torch.stack([z[i] @ z[p] / t - denom for p in partners]).mean())
    assert torch.allclose(supervised_contrastive_loss(z, labels, t), torch.stack(terms).mean(), atol=1e-5)
    lone = supervised_contrastive_loss(z[:3], torch.tensor([0, 1, 2]), t)
    assert lone.item() == 0.0


def test_supcon_training_fits_a_head_on_unit_vectors_and_reloads(tiny_model_dir, data_dir, tmp_path):
    from xlt.inference import pooled_features, predict_proba
    from xlt.models.loading import save_classifier

    trained = _train_tiny(tiny_model_dir, data_dir, tmp_path / "run", epochs=1, loss="supcon", batch_size=16)
    assert trained.info.normalize and trained.stats["linear_probe_examples"] == 16
    features = pooled_features(trained.model, trained.tokenizer, ["I love this!", "meh"], max_length=32)
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    texts = ["I love this!", "Das ist furchtbar."]
    expected = trained.predict_proba(texts)
    save_classifier(trained.model, trained.tokenizer, trained.info, tmp_path / "clf")
    model, tokenizer, info = load_classifier(tmp_path / "clf")
    assert info.normalize
    assert np.allclose(predict_proba(model, tokenizer, texts, max_length=32), expected, atol=1e-5)


def test_a_run_whose_loss_ends_at_chance_level_is_flagged():
    from xlt.training import chance_level_warning

    collapsed = [1.10, 0.95, 1.21, 1.10, 1.099, 1.102, 1.098, 1.1, 1.097, 1.1]  # seen at lr 5e-4, seed 44
    learning = [1.10, 1.0, 0.9, 0.8, 0.75, 0.7, 0.66, 0.6, 0.58, 0.55]
    message = chance_level_warning(collapsed, num_labels=3)
    assert message and "collapsed" in message and "ln(3) = 1.099" in message
    assert chance_level_warning(learning, num_labels=3) is None
    assert chance_level_warning([1.1, 1.1], num_labels=3) is None  # too few points to judge
    assert chance_level_warning([0.69] * 10, num_labels=2)  # binary chance level is ln 2


def test_training_can_start_from_a_given_encoder(tiny_model_dir, data_dir, tmp_path):
    """Intermediate-task training: the sentiment run starts from another fine-tuned encoder."""
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model

    start = load_encoder(resolve_model(str(tiny_model_dir))).eval().requires_grad_(False)
    with torch.no_grad():
        start.embeddings.word_embeddings.weight[:] = 0.5  # unlike any pre-trained encoder
    trained = _train_tiny(tiny_model_dir, data_dir, tmp_path / "run", epochs=1, finetune="full",
                          freeze_embeddings=True, encoder=start)
    assert trained.model.encoder is start
    assert torch.all(trained.model.encoder.embeddings.word_embeddings.weight == 0.5)
    assert any(p.requires_grad for p in start.encoder.parameters())  # trainable again


def test_pooled_features_of_several_layers_sit_side_by_side(tiny_model_dir):
    from xlt.inference import pooled_features
    from xlt.models.classifier import SequenceClassifier
    from xlt.models.loading import load_encoder, load_tokenizer
    from xlt.models.registry import resolve_model

    spec = resolve_model(str(tiny_model_dir))
    model = SequenceClassifier(load_encoder(spec), 3, normalize=True)
    tokenizer, texts = load_tokenizer(spec), ["Hallo Welt", "ok", "a longer sentence than the others"]
    last = pooled_features(model, tokenizer, texts, max_length=32)
    both = pooled_features(model, tokenizer, texts, max_length=32, layers=[1, 2])
    assert both.shape == (3, 32)
    assert np.allclose(both[:, 16:], last, atol=1e-5)  # layer 2 is the last of the tiny encoder
    assert np.allclose(np.linalg.norm(both[:, :16], axis=1), 1.0, atol=1e-5)


def test_a_second_training_in_the_same_folder_waits_then_resumes_from_the_finished_run(tiny_model_dir, data_dir,
                                                                                       tmp_path, monkeypatch, capsys):
    """Few-shot and translate-test train their source model in the zero-shot run's folder; sweep shards side
    by side must not write (or delete) each other's checkpoints there."""
    import threading

    from filelock import FileLock

    from xlt import training

    out = tmp_path / "shared-run"
    out.mkdir()
    entered, original = threading.Event(), training._train_classifier

    def recording(*args, **kwargs):
        entered.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "_train_classifier", recording)
    results = []
    with FileLock(str(out / ".train.lock")):  # another process training here
        worker = threading.Thread(target=lambda: results.append(_train_tiny(tiny_model_dir, data_dir, out)))
        worker.start()
        assert not entered.wait(timeout=2)  # it waits, touching nothing
        assert not (out / "checkpoints").exists()
    worker.join(timeout=300)
    assert entered.is_set() and "another process is training there" in capsys.readouterr().err
    assert results[0].stats["resumed_from_checkpoint"] is None
    second = _train_tiny(tiny_model_dir, data_dir, out)  # the lock is free: it reuses the finished run
    assert second.stats["resumed_from_checkpoint"] is not None
    # no step taken here: its loss is the finished run's last logged one, not the Trainer's 0.0 of no steps
    assert second.stats["final_train_loss"] == second.stats["loss_curve"][-1]["loss"] > 0
