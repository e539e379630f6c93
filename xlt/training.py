"""Fine-tune a `SequenceClassifier` with the transformers `Trainer` (dynamic padding, length grouping)."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path

import torch
from torch import nn

from .config import TrainConfig
from .data import tokenize_dataset
from .errors import XltError
from .models.classifier import SequenceClassifier
from .models.classifier_artifact import TrainedClassifier
from .models.layers import keep_bottom_layers, transformer_layers
from .models.loading import ClassifierInfo, load_encoder, load_tokenizer
from .models.registry import ModelSpec
from .tasks import TaskSpec

logger = logging.getLogger(__name__)


def precision_flags(precision: str) -> dict:
    """Mixed precision on a GPU (bf16 where supported, else fp16); fp32 on CPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return {}
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    if precision in ("fp16", "bf16") and not cuda:
        raise XltError(f"precision {precision} needs a GPU; use 'auto' or 'fp32' on CPU")
    return {precision: True} if precision in ("fp16", "bf16") else {}


def world_size() -> int:
    """Training processes of this run: several in a multi-GPU run (`accelerate launch` sets WORLD_SIZE), else 1."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def resolved_precision(precision: str) -> str:
    """What a run configured with `precision` trains at on this machine ('auto' resolved): fp32, bf16 or fp16."""
    flags = precision_flags(precision)
    return "bf16" if flags.get("bf16") else "fp16" if flags.get("fp16") else "fp32"


def chance_level_warning(losses: list[float], num_labels: int, tail: float = 0.2) -> str | None:
    """A message when the cross-entropy ended at chance level (the run diverged and learnt nothing).

    A classifier that predicts the class prior has loss ln(num_labels) on balanced data; a run whose
    last logged losses sit there has collapsed, typically from a too-high learning rate.
    """
    if len(losses) < 5:
        return None
    last = losses[-max(3, int(len(losses) * tail)):]
    mean, chance = sum(last) / len(last), math.log(num_labels)
    if mean < 0.97 * chance:
        return None
    return (f"training collapsed: the loss ended at {mean:.3f}, chance level is ln({num_labels}) = {chance:.3f}, "
            f"so the model predicts one class whatever the input. Lower the learning rate or change the seed.")


def build_classifier(spec: ModelSpec, num_labels: int, config: TrainConfig, encoder=None):
    """Encoder from the model registry (or `encoder`, e.g. one fine-tuned on an intermediate task) + head;
    LoRA adapters or full, optionally with frozen bottom layers."""
    encoder = load_encoder(spec) if encoder is None else encoder.train().requires_grad_(True)
    if config.encoder_layers:
        keep_bottom_layers(encoder, config.encoder_layers)
    n_layers = len(transformer_layers(encoder)) if config.freeze_layers else 0
    if config.freeze_layers >= max(n_layers, 1):
        raise XltError(f"freeze_layers={config.freeze_layers} leaves nothing to train: {spec.name} has "
                       f"{n_layers} layers" + (" kept" if config.encoder_layers else ""))
    if config.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        targets = config.lora_targets.strip()
        target_modules = None
        if targets == "all-linear":
            target_modules = "all-linear"
        elif targets:
            target_modules = [t.strip() for t in targets.split(",") if t.strip()]
        layers = list(range(config.freeze_layers, n_layers)) if config.freeze_layers else None
        if layers and target_modules == "all-linear":  # peft takes a layer subset only with named targets
            target_modules = sorted({name.rsplit(".", 1)[-1] for name, module in encoder.named_modules()
                                     if isinstance(module, nn.Linear)})
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=target_modules, bias="none", layers_to_transform=layers)
        try:
            encoder = get_peft_model(encoder, lora)
        except ValueError as exc:
            raise XltError(f"LoRA could not be applied to {spec.name}: {exc}. Set lora_targets.") from exc
    else:
        if config.freeze_embeddings:
            encoder.get_input_embeddings().weight.requires_grad_(False)
        if config.freeze_layers:  # the whole embedding block (positions, LayerNorm) and the bottom layers
            getattr(encoder, "embeddings", encoder.get_input_embeddings()).requires_grad_(False)
            for layer in transformer_layers(encoder)[:config.freeze_layers]:
                layer.requires_grad_(False)
    return SequenceClassifier(encoder, num_labels, pooling=spec.pooling, dropout=config.dropout,
                              normalize=config.loss == "supcon", loss=config.loss, temperature=config.temperature)


def fit_linear_probe(model: SequenceClassifier, tokenizer, task: TaskSpec, train_ds, prefix: str,
                     max_length: int, batch_size: int, l2: float | None = None, steps: int = 200) -> dict:
    """Fit the head as a multinomial logistic regression on frozen pooled features (LP of LP-FT).

    Runs before any encoder update (LoRA's B matrices start at zero, so the features are
    the pre-trained ones). `l2` defaults to 1/n, sklearn's `C=1` in mean-loss form.
    """
    from .data import texts_of
    from .inference import pooled_features

    first, second = texts_of(task, train_ds)
    x = torch.from_numpy(pooled_features(model, tokenizer, first, second, prefix=prefix, max_length=max_length,
                                         batch_size=batch_size))
    y = torch.tensor(train_ds["label"], dtype=torch.long)
    l2 = 1.0 / len(y) if l2 is None else l2
    weight = torch.zeros(model.head.out_features, x.shape[1], requires_grad=True)
    bias = torch.zeros(model.head.out_features, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        model.head.weight.copy_(weight)
        model.head.bias.copy_(bias)
        accuracy = float(((x @ weight.T + bias).argmax(1) == y).float().mean())
    return {"linear_probe_train_accuracy": round(accuracy, 4), "linear_probe_examples": len(y)}


def _logging_steps(n_examples: int, config: TrainConfig) -> int:
    """Log the loss often enough that short runs still give the collapse check ~25 points (every 10
    steps at most, as before, on long runs)."""
    per_epoch = math.ceil(n_examples / (config.batch_size * config.gradient_accumulation_steps))
    return max(1, min(10, int(per_epoch * config.epochs) // 25))


def _checkpoint_states(ckpt_dir: Path):
    """(folder, its trainer state or None when unreadable) of each `checkpoint-<step>` in `ckpt_dir`, newest
    first."""
    import json

    found = sorted((int(f.name.split("-", 1)[1]), f) for f in Path(ckpt_dir).glob("checkpoint-*")
                   if f.is_dir() and f.name.split("-", 1)[1].isdigit()) if Path(ckpt_dir).is_dir() else []
    for _, folder in reversed(found):
        try:
            yield folder, json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            yield folder, None


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint whose trainer state was written (the Trainer writes it last).

    A process killed while saving leaves a checkpoint folder without it; such folders are
    removed so that resuming never loads half a checkpoint.
    """
    import shutil

    for folder, state in _checkpoint_states(ckpt_dir):
        if state is not None:
            return str(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return None


def training_finished(ckpt_dir: Path) -> bool:
    """Whether the newest readable checkpoint in `ckpt_dir` is its training's last step (read only: unlike
    `last_complete_checkpoint` it removes nothing, so a dry run never touches a live run's folder)."""
    for _, state in _checkpoint_states(ckpt_dir):
        if state is not None:
            return bool(state.get("max_steps")) and state.get("global_step") == state.get("max_steps")
    return False


class TrainClock:
    """Training wall time summed over the runs of one training (a resumed run adds to the killed one's).

    Its `state()` goes into every checkpoint's `trainer_state.json` (the Trainer saves `ExportableState`
    callbacks there), so a run resumed from that checkpoint starts counting from the time saved with it
    and a record's `train_seconds` is what the whole training cost, not the last piece (a few-shot
    learning curve reuses its finished source model: that stage would otherwise take ~0 s).
    """

    key = "TrainClock"

    def __init__(self, before: float = 0.0) -> None:
        self.before = float(before)
        self.started = time.perf_counter()
        self.partial = False

    @classmethod
    def from_checkpoint(cls, checkpoint: str | None) -> TrainClock:
        import json

        seconds, known = 0.0, False
        if checkpoint:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, LookupError):
                state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
                seconds = float(state["stateful_callbacks"][cls.key]["attributes"]["seconds"])
                known = math.isfinite(seconds) and seconds >= 0
        clock = cls(seconds if known else 0.0)
        # a checkpoint saved before the clock existed: the time before it is unknown (the record says so)
        clock.partial = bool(checkpoint) and not known
        return clock

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.started

    def callback(self):
        from transformers import TrainerCallback
        from transformers.trainer_callback import ExportableState

        clock = self

        class _Saved(TrainerCallback, ExportableState):
            def state(self) -> dict:
                return {"args": {}, "attributes": {"seconds": round(clock.seconds(), 2)}}

            def on_train_begin(self, args, state, control, **kwargs):
                # the Trainer saves ExportableState callbacks by updating entries its state already has; a
                # state loaded from a checkpoint written before the clock existed has none for it
                state.stateful_callbacks.setdefault(clock.key, self.state())

        _Saved.__name__ = _Saved.__qualname__ = self.key
        return _Saved()


def train_classifier(task: TaskSpec, spec: ModelSpec, train_ds, config: TrainConfig, output_dir: str | Path,
                     callbacks: list | None = None, resume: bool = True,
                     languages: list[str] | None = None, encoder=None,
                     head_state: dict | None = None, trainer_cls=None,
                     sampling: str = "group_by_length") -> TrainedClassifier:
    """Fine-tune on `train_ds` (text fields + label) and return the trained classifier.

    Checkpoints go to `output_dir/checkpoints`; with `resume`, a run with the same output
    folder continues from its last checkpoint instead of starting over. `encoder` replaces the
    registry's pre-trained encoder as the starting point, and `head_state` the head's initial weights
    (continued training of a trained classifier). `trainer_cls` replaces the Trainer (a method's own training
    step: maml's episodes) and `sampling` its order of rows (`sequential`: as `train_ds` lays them out).

    Methods that reuse another run's source model (few-shot, translate-test) train in that run's folder,
    so two processes side by side (`xlt sweep --shard`) can reach the same folder: a lock on it makes
    the second wait and then resume from the first's finished checkpoint, instead of both writing (and
    deleting each other's half-written) checkpoints. The ranks of one multi-GPU run share the folder by
    design and take no lock.
    """
    with _run_folder_lock(Path(output_dir)):
        return _train_classifier(task, spec, train_ds, config, output_dir, callbacks, resume, languages, encoder,
                                 head_state, trainer_cls or _trainer_class(), sampling)


@contextlib.contextmanager
def _run_folder_lock(folder: Path):
    """Hold `folder`'s training lock (saying so when another process has it); none inside a multi-GPU run."""
    import sys

    from filelock import FileLock, Timeout

    if world_size() > 1:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / ".train.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for {folder}: another process is training there; this run continues from its "
              "checkpoints when it is done", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


TRAINED_AS = "trained_as.json"  # in a training folder: the precision and processes its checkpoints trained with


def stamp_trained_as(folder: Path, precision: str) -> None:
    """Note in `folder` what its checkpoints train at (rank 0 of a multi-GPU run), so a run under another
    precision name resumes them only when that is the same training (`xlt/run_folders.py`)."""
    import json

    from .experiment import is_main_process

    if not is_main_process():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRAINED_AS).write_text(json.dumps({"precision": precision, "world_size": world_size()}))


def _trainer_class():
    from transformers import Trainer

    return Trainer


def _train_classifier(task, spec, train_ds, config, output_dir, callbacks, resume, languages, encoder,
                      head_state, trainer_cls, sampling) -> TrainedClassifier:
    from transformers import DataCollatorWithPadding, TrainingArguments, set_seed

    if len(train_ds) == 0:
        raise XltError("no training examples: check the source language and split")
    set_seed(config.seed)
    tokenizer = load_tokenizer(spec)
    model = build_classifier(spec, len(task.label_names), config, encoder=encoder)
    if head_state is not None:
        model.head.load_state_dict(head_state)
    probe_stats = {}
    if config.head_init == "linear-probe":
        probe_stats = fit_linear_probe(model, tokenizer, task, train_ds, spec.text_prefix, config.max_length,
                                       config.eval_batch_size)
    encoded = tokenize_dataset(train_ds, task, tokenizer, spec.text_prefix, config.max_length)
    ckpt_dir = Path(output_dir) / "checkpoints"
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.epochs,
        learning_rate=config.effective_learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        train_sampling_strategy=sampling,
        length_column_name="length",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        logging_steps=_logging_steps(len(encoded), config),
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=True,
        disable_tqdm=False,
        **precision_flags(config.precision),
    )
    trained_at = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    stamp_trained_as(Path(output_dir), trained_at)
    averager = None
    if config.average_last_epochs > 1:
        from .averaging import CheckpointAverager

        averager = CheckpointAverager(model, config.epochs, config.average_last_epochs)
    last = last_complete_checkpoint(ckpt_dir) if resume else None
    clock = TrainClock.from_checkpoint(last)
    trainer = trainer_cls(model=model, args=args, train_dataset=encoded,
                      data_collator=DataCollatorWithPadding(tokenizer),
                      callbacks=[*(callbacks or []), *([averager] if averager else []), clock.callback()])
    if averager is not None:
        averager.resume_from(last)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    this_run = time.perf_counter() - start
    seconds = clock.before + this_run
    if config.loss == "supcon":  # the encoder learnt an embedding space; the head is fit on it now
        model.eval()
        probe_stats = fit_linear_probe(model, tokenizer, task, train_ds, spec.text_prefix, config.max_length,
                                       config.eval_batch_size)
    examples = int(len(encoded) * config.epochs)
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h]
    warnings = []
    if config.loss == "cross-entropy":
        collapse = chance_level_warning([h["loss"] for h in losses], len(task.label_names))
        if collapse:
            logger.warning(collapse)
            warnings.append(collapse)
    stats = {
        # what `precision` resolved to here ('auto' is bf16 on most GPUs, fp32 on a CPU): it moves transfer
        # scores (leaderboard/hardware-check/), and the config alone does not say it
        "precision": trained_at,
        "train_seconds": round(seconds, 2),  # over every run of this training (see TrainClock)
        "train_seconds_this_run": round(this_run, 2),
        **({"train_seconds_partial": True} if clock.partial else {}),
        "train_examples": len(encoded),
        "train_examples_per_second": round(examples / seconds, 3) if seconds > 0 else None,
        "train_steps": int(result.global_step),
        "final_train_loss": _final_loss(result, last, losses),
        "resumed_from_checkpoint": Path(last).name if last else None,
        "loss_curve": losses,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        **probe_stats,
        **(averager.stats() if averager else {}),
        "warnings": warnings,
    }
    model.eval()
    info = classifier_info(task, spec, config, languages, model.normalize)
    return TrainedClassifier(model=model, tokenizer=tokenizer, info=info, stats=stats)


def _final_loss(result, resumed_from: str | None, losses: list[dict]) -> float | None:
    """The Trainer's mean training loss of this run; for a run found already finished (resumed from its last
    checkpoint, no step taken here) the Trainer says 0.0: the last logged loss of its history instead."""
    resumed_step = int(Path(resumed_from).name.rsplit("-", 1)[-1]) if resumed_from else None
    if resumed_step is not None and resumed_step >= result.global_step:
        return losses[-1]["loss"] if losses else None
    return round(float(result.training_loss), 5)


def classifier_info(task: TaskSpec, spec: ModelSpec, config: TrainConfig, languages: list[str] | None,
                    normalize: bool, finetune: str | None = None) -> ClassifierInfo:
    """What a saved classifier folder says of itself; `finetune` other than the config's ("none": a frozen
    encoder)."""
    return ClassifierInfo(
        base_model=spec.name, task=task.name, label_names=list(task.label_names),
        text_fields=list(task.text_fields), pooling=spec.pooling, text_prefix=spec.text_prefix,
        max_length=config.max_length, finetune=finetune or config.finetune, languages_trained=list(languages or []),
        encoder_layers=config.encoder_layers, normalize=normalize,
        extra={"task_spec": task.to_dict()},  # the model carries its task: it loads where the task is unknown
    )
