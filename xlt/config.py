"""Typed, validated configs that serialise into result records and back."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields

from .errors import XltError

FINETUNE_MODES = ("full", "lora")
HEAD_INITS = ("random", "linear-probe")
LOSSES = ("cross-entropy", "supcon")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def _help(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrainConfig:
    """Fine-tuning hyperparameters shared by every method.

    Defaults follow the seed recipe (lr 2e-5, batch 16, 3 epochs); `max_length`,
    `max_train_samples` and `epochs` are the CPU-friendly knobs.
    """

    learning_rate: float = _help("Peak learning rate (AdamW, linear decay).", default=2e-5)
    batch_size: int = _help("Training examples per step.", default=16)
    epochs: float = _help("Passes over the training data.", default=3.0)
    max_length: int = _help("Longest input in tokens; longer inputs are truncated.", default=128)
    max_train_samples: int | None = _help("Use at most this many training examples (seeded sample).", default=None)
    max_eval_samples: int | None = _help("Evaluate on at most this many examples per language.", default=None)
    seed: int = _help("Random seed for sampling, initialisation and data order.", default=42)
    weight_decay: float = _help("AdamW weight decay.", default=0.01)
    warmup_ratio: float = _help("Fraction of steps with linear warm-up.", default=0.1)
    finetune: str = _help("'full' fine-tuning or 'lora' adapters (peft).", default="full")
    lora_r: int = _help("LoRA rank.", default=8)
    lora_alpha: int = _help("LoRA scaling alpha.", default=16)
    lora_dropout: float = _help("LoRA dropout.", default=0.1)
    lora_targets: str = _help("LoRA target modules, comma-separated, or 'all-linear'; empty = peft default.",
                              default="")
    freeze_embeddings: bool = _help("Freeze the word embeddings in full fine-tuning (keeps unseen "
                                    "languages aligned; saves the optimizer state of the vocabulary).",
                                    default=True)
    encoder_layers: int = _help("Keep only the bottom N transformer layers (0 = all): the head reads layer N. "
                                "Middle layers of multilingual encoders are more language-neutral, and "
                                "a shorter encoder is faster.", default=0)
    freeze_layers: int = _help("Freeze the embeddings and the bottom N transformer layers (LoRA adapts only the "
                               "layers above). Lower layers carry most of the cross-lingual alignment.",
                               default=0)
    average_last_epochs: int = _help("Checkpoint averaging: the final model is the mean of the weights at the "
                                     "end of the last N epochs (steadier zero-shot transfer). 0 or 1 = off.",
                                     default=0)
    dropout: float = _help("Dropout before the classification head.", default=0.1)
    head_init: str = _help("'random', or 'linear-probe': fit the head on frozen features first, then "
                           "fine-tune (LP-FT: less feature distortion, better transfer).", default="random")
    loss: str = _help("'cross-entropy', or 'supcon': supervised contrastive fine-tuning of the unit-length "
                      "embeddings, then a logistic-regression head on them (SetFit-style; keeps the "
                      "embedding geometry of sentence encoders like e5).", default="cross-entropy")
    temperature: float = _help("Temperature of the supcon loss.", default=0.05)
    gradient_accumulation_steps: int = _help("Steps to accumulate before an optimizer update.", default=1)
    eval_batch_size: int = _help("Batch size for evaluation and prediction.", default=64)
    precision: str = _help("'auto' (bf16/fp16 on a GPU, fp32 on CPU), 'fp32', 'fp16' or 'bf16'.", default="auto")
    save_steps: int = _help("Checkpoint every this many steps (resume picks up the last).", default=200)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.learning_rate < 1:
            problems.append(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.epochs <= 100:
            problems.append(f"epochs must be in (0, 100], got {self.epochs}")
        if not 8 <= self.max_length <= 4096:
            problems.append(f"max_length must be in [8, 4096], got {self.max_length}")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1 (or unset), got {value}")
        if not 0 <= self.weight_decay < 1:
            problems.append(f"weight_decay must be in [0, 1), got {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.finetune not in FINETUNE_MODES:
            problems.append(f"finetune must be one of {FINETUNE_MODES}, got {self.finetune!r}")
        if self.lora_r < 1 or self.lora_alpha < 1:
            problems.append("lora_r and lora_alpha must be >= 1")
        for name in ("lora_dropout", "dropout"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1)")
        if not 0 <= self.encoder_layers <= 256:
            problems.append(f"encoder_layers must be in [0, 256], got {self.encoder_layers}")
        if self.encoder_layers and self.freeze_layers >= self.encoder_layers:
            problems.append(f"freeze_layers ({self.freeze_layers}) must be below encoder_layers "
                            f"({self.encoder_layers})")
        if not 0 <= self.freeze_layers <= 256:
            problems.append(f"freeze_layers must be in [0, 256], got {self.freeze_layers}")
        if not 0 <= self.average_last_epochs <= math.ceil(self.epochs):
            problems.append(f"average_last_epochs must be in [0, epochs={math.ceil(self.epochs)}], "
                            f"got {self.average_last_epochs}")
        if self.gradient_accumulation_steps < 1 or self.eval_batch_size < 1 or self.save_steps < 1:
            problems.append("gradient_accumulation_steps, eval_batch_size and save_steps must be >= 1")
        if self.head_init not in HEAD_INITS:
            problems.append(f"head_init must be one of {HEAD_INITS}, got {self.head_init!r}")
        if self.loss not in LOSSES:
            problems.append(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0 < self.temperature <= 10:
            problems.append(f"temperature must be in (0, 10], got {self.temperature}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if problems:
            raise XltError("bad training settings: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return from_dict(cls, data)


def from_dict(cls, data: dict):
    """Build dataclass `cls` from a dict, rejecting unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise XltError(f"{cls.__name__} settings must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise XltError(f"unknown {cls.__name__} settings {unknown}; known: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise XltError(f"bad {cls.__name__} settings: {exc}") from exc


def field_default(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return MISSING
