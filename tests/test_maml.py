"""maml: the zero-shot source model, then first-order MAML episodes on auxiliary languages."""

import json

import pytest
import torch
from torch import nn

from xlt import cli
from xlt.results.records import read_records

TRAIN = ["--finetune", "lora", "--lora-targets", "query,value", "--epochs", "1", "--batch-size", "8",
         "--learning-rate", "1e-2", "--max-train-samples", "40", "--max-eval-samples", "12", "--max-length", "32"]


def argv(model_dir, tmp_path, *extra):
    return ["train", "--task", "sentiment", "--method", "maml", "--model", str(model_dir), "--source", "en,de",
            "--targets", "en,de,fr", *TRAIN, "--opt-support", "4", "--opt-tasks-per-step", "2",
            "--results-dir", str(tmp_path / "results"), "--output-dir", str(tmp_path / "run"), *extra]


class _Toy(nn.Module):
    """A linear classifier whose forward answers as SequenceClassifier does (an output with .loss, the batch mean,
    whatever keywords it is given)."""

    from xlt.models.classifier import SequenceClassifier

    accepts_loss_kwargs = SequenceClassifier.accepts_loss_kwargs  # what tells the Trainer who averages over episodes

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 2)

    def forward(self, x=None, labels=None, **_):
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.linear(x)
        return SequenceClassifierOutput(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def test_a_training_step_is_one_first_order_maml_episode(tmp_path):
    """The step's gradient is the query loss's at the weights two SGD steps on the support set reached, and the
    shared weights are back where they were (the optimizer applies that gradient to them)."""
    from transformers import TrainingArguments

    from xlt.methods.maml import MamlTrainer

    model = _Toy()
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = MamlTrainer(model=model, args=args, inner_steps=2, inner_lr=0.5)
    trainer.current_gradient_accumulation_steps = 1
    torch.manual_seed(1)
    batch = {"x": torch.randn(8, 3), "labels": torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])}
    shared = {k: v.detach().clone() for k, v in model.named_parameters()}

    reference = _Toy()  # by hand: two SGD steps on the first half, the second half's gradient there
    reference.load_state_dict(model.state_dict())
    for _ in range(2):
        loss = reference(batch["x"][:4], batch["labels"][:4]).loss
        grads = torch.autograd.grad(loss, list(reference.parameters()))
        with torch.no_grad():
            for p, g in zip(reference.parameters(), grads):
                p.sub_(0.5 * g)
    expected = torch.autograd.grad(reference(batch["x"][4:], batch["labels"][4:]).loss, list(reference.parameters()))

    loss = trainer.training_step(model, batch)
    assert torch.isfinite(loss)
    for (name, p), g in zip(model.named_parameters(), expected):
        assert torch.equal(p.detach(), shared[name]), name  # the shared weights restored
        assert torch.allclose(p.grad, g, atol=1e-6), name  # the query gradient at the adapted weights
        assert not torch.allclose(g, torch.zeros_like(g))


def test_the_trainer_loop_averages_the_episodes_of_a_meta_update(tmp_path):
    """In the real Trainer loop (accelerate, gradient accumulation over 2 episodes, plain SGD with lr 1): the shared
    weights move by minus the mean of the two episodes' query gradients, each taken after its own inner steps."""
    import datasets
    from transformers import TrainingArguments, default_data_collator

    from xlt.methods.maml import MamlTrainer

    model = _Toy()
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    torch.manual_seed(2)
    x, y = torch.randn(16, 3), torch.tensor([0, 1] * 8)
    rows = datasets.Dataset.from_dict({"x": x.tolist(), "labels": y.tolist()})
    expected = []
    for episode in (slice(0, 8), slice(8, 16)):  # by hand: 2 SGD steps on the support half, the query half's gradient
        ref = _Toy()
        ref.load_state_dict({k: v.clone() for k, v in start.items()})
        ex, ey = x[episode], y[episode]
        for _ in range(2):
            grads = torch.autograd.grad(ref(ex[:4], ey[:4]).loss, list(ref.parameters()))
            with torch.no_grad():
                for p, g in zip(ref.parameters(), grads):
                    p.sub_(0.5 * g)
        expected.append(torch.autograd.grad(ref(ex[4:], ey[4:]).loss, list(ref.parameters())))
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, per_device_train_batch_size=8,
                             gradient_accumulation_steps=2, num_train_epochs=1, learning_rate=1.0,
                             lr_scheduler_type="constant", max_grad_norm=0.0, train_sampling_strategy="sequential",
                             remove_unused_columns=False, save_strategy="no", logging_steps=1, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    trainer = MamlTrainer(model=model, args=args, train_dataset=rows.with_format("torch"),
                          data_collator=default_data_collator, optimizers=(optimizer, None), inner_steps=2,
                          inner_lr=0.5)
    trainer.train()
    assert trainer.state.global_step == 1
    for (name, p), g0, g1 in zip(model.named_parameters(), *expected):
        assert torch.allclose(p.detach(), start[name] - (g0 + g1) / 2, atol=1e-5), name


def _context(model_dir, tmp_path, **options):
    from xlt.config import ExperimentConfig, TrainConfig
    from xlt.experiment import validate

    config = ExperimentConfig(task="sentiment", method="maml", model=str(model_dir),
                              source_languages=["en", "de", "fr"],
                              method_options={"support": 4, "tasks_per_step": 3, **options},
                              train=TrainConfig(max_train_samples=40, max_length=32))
    validated = validate(config)
    return validated.method, validated.context(tmp_path / "run")


def test_episodes_are_one_language_each_and_whole_meta_updates(tiny_model_dir, tmp_path):
    method, ctx = _context(tiny_model_dir, tmp_path, meta_epochs=1.5)
    rows = method.episodes(ctx)
    texts = rows["text"]
    assert len(rows) % (8 * 3) == 0 and len(rows) > 0  # episodes of 8 rows, 3 per meta-update
    # each language: 40 rows (max_train_samples) -> 5 episodes a pass, 2 in the half pass: 14 -> 12 (4 updates)
    assert len(rows) == 12 * 8
    from xlt.data import load_split

    by_lang = {lang: set(load_split(ctx.task, lang, "train", None)["text"]) for lang in ("de", "fr")}
    langs = []
    for i in range(0, len(rows), 8):
        episode = texts[i:i + 8]
        owners = {lang for lang, pool in by_lang.items() if all(t in pool for t in episode)}
        assert len(owners) == 1, episode  # one language per episode
        assert len(set(episode)) == 8  # no row twice in one episode
        langs.append(owners.pop())
    assert set(langs) == {"de", "fr"} and langs != sorted(langs)  # both languages, interleaved
    again = method.episodes(ctx)["text"]
    assert again == texts  # the seed fixes the episodes: a resumed run reads the same rows in the same order


def test_train_save_reload(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact
    from xlt.predict import Predictor

    assert cli.main(argv(tiny_model_dir, tmp_path, "--save-model", str(tmp_path / "m"))) == 0, \
        capsys.readouterr().err
    (record,), errors = read_records(tmp_path / "results")
    assert not errors and record["method"] == "maml"
    assert record["seen_languages"] == ["en", "de"] and record["summary"]["target_languages"] == ["fr"]
    training = record["training"]
    assert training["source_stage"]["train_examples"] == 40  # stage 1: the zero-shot run from en
    # de's 40 rows make 5 episodes a pass, 2 passes (meta_epochs): 10 episodes, 5 meta-updates of 2 episodes each
    assert training["episodes"] == 10 and training["train_examples"] == 10 * 8
    assert training["train_steps"] == 5  # one optimizer step per tasks_per_step episodes (gradient accumulation)
    assert record["train_seconds"] >= training["source_stage"]["train_seconds"]
    info = json.loads((tmp_path / "m" / "xlt_classifier.json").read_text())
    assert info["finetune"] == "full" and info["languages_trained"] == ["en", "de"]
    texts = ["I love this", "C'est nul"]
    saved = load_artifact(tmp_path / "m")
    out = Predictor(tmp_path / "m").predict(texts)
    assert torch.allclose(torch.tensor([list(p.probabilities.values()) for p in out]),
                          torch.tensor(saved.predict_proba(texts)), atol=1e-4)
    assert cli.config_from_command(record["command"]).fingerprint() == record["config_fingerprint"]


@pytest.mark.parametrize("extra, message", [
    (["--source", "en"], "maml needs a pre-training language and at least one auxiliary language"),
    (["--opt-inner-steps", "0"], "inner_steps must be in 1..20"),
    (["--opt-inner-lr", "0"], "inner_lr must be in (0, 1]"),
    (["--opt-support", "5000"], "support must be in 1..512"),
    (["--opt-meta-epochs", "0"], "meta_epochs must be in (0, 100]"),
    (["--opt-support", "500"], "fewer than one episode"),
    (["--max-train-samples", "6"], "de has 6 usable labelled rows in train: fewer than one episode"),
    (["--opt-meta-epochs", "0.05"], "makes no whole episode of 8 rows"),
])
def test_bad_settings_before_any_training(tiny_model_dir, tmp_path, capsys, extra, message):
    assert cli.main(argv(tiny_model_dir, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
    runs = tmp_path / "xlt-home" / "runs"  # stage 1 (the zero-shot run) would train there
    assert not runs.exists() or not any(runs.rglob("checkpoints"))
