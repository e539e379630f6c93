"""Typed, validated configs that serialise into result records and back.

`ExperimentConfig` is plain data: its own types and ranges are checked here, names (task,
method, model, languages) are checked against the registries by `xlt.experiment.validate`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import shlex
from dataclasses import MISSING, asdict, dataclass, field, fields

from .errors import XltError

DEFAULT_MODEL = "multilingual-e5-small"
SPLIT = re.compile(r"^[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)*$")
# a language code: ISO 639-1/-3 (en, zh, ast), optionally a region or script (pt-BR, zh-Hans). It becomes a file
# name (`<data>/<task>/<split>/<lang>.jsonl`), so nothing else: no '/', '.', or spaces
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

FINETUNE_MODES = ("full", "lora")
HEAD_INITS = ("random", "linear-probe")
LOSSES = ("cross-entropy", "supcon")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
TRAINED_PRECISIONS = tuple(p for p in PRECISIONS if p != "auto")  # what a run trains at (`auto` resolved)


def _help(text: str, choices: tuple | None = None, **kwargs):
    """A field with help text (and the allowed values) in its metadata: CLI flags and app forms read them."""
    metadata = {"help": text}
    if choices:
        metadata["choices"] = tuple(choices)
    return field(metadata=metadata, **kwargs)


LORA_LEARNING_RATE, FULL_LEARNING_RATE = 5e-4, 2e-5


@dataclass
class TrainConfig:
    """Fine-tuning hyperparameters shared by every method.

    Defaults follow the seed recipe (lr 2e-5, batch 16, 3 epochs); `max_length`,
    `max_train_samples` and `epochs` are the CPU-friendly knobs.
    """

    learning_rate: float | None = _help("Peak learning rate (AdamW, linear decay); none = the fine-tuning mode's "
                                        f"default ({LORA_LEARNING_RATE} for LoRA, {FULL_LEARNING_RATE} for full).",
                                        default=None)
    batch_size: int = _help("Training examples per step.", default=16)
    epochs: float = _help("Passes over the training data.", default=3.0)
    max_length: int = _help("Longest input in tokens; longer inputs are truncated.", default=128)
    max_train_samples: int | None = _help("Use at most this many training examples (seeded sample).", default=None)
    max_eval_samples: int | None = _help("Evaluate on at most this many examples per language.", default=None)
    seed: int = _help("Random seed for sampling, initialisation and data order.", default=42)
    weight_decay: float = _help("AdamW weight decay.", default=0.01)
    warmup_ratio: float = _help("Fraction of steps with linear warm-up.", default=0.1)
    finetune: str = _help("'full' fine-tuning or 'lora' adapters (peft).", choices=FINETUNE_MODES, default="full")
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
                      "embedding geometry of sentence encoders like e5).", choices=LOSSES,
                      default="cross-entropy")
    temperature: float = _help("Temperature of the supcon loss.", default=0.05)
    gradient_accumulation_steps: int = _help("Steps to accumulate before an optimizer update.", default=1)
    eval_batch_size: int = _help("Batch size for evaluation and prediction.", default=64)
    precision: str = _help("'auto' (bf16/fp16 on a GPU, fp32 on CPU), 'fp32', 'fp16' or 'bf16'.", choices=PRECISIONS,
                           default="auto")
    save_steps: int = _help("Checkpoint every this many steps (resume picks up the last).", default=200)

    def __post_init__(self) -> None:
        coerce_fields(self, "bad training settings")
        problems = []
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            problems.append(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 1 <= self.batch_size <= 4096:
            problems.append(f"batch_size must be in [1, 4096], got {self.batch_size}")
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in [0, 2**32), got {self.seed}")
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
        if not 1 <= self.lora_r <= 512 or not 1 <= self.lora_alpha <= 4096:
            problems.append(f"lora_r must be in [1, 512] and lora_alpha in [1, 4096], got {self.lora_r}, "
                            f"{self.lora_alpha}")
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
        if not (1 <= self.gradient_accumulation_steps <= 1024 and 1 <= self.eval_batch_size <= 4096
                and self.save_steps >= 1):
            problems.append("gradient_accumulation_steps must be in [1, 1024], eval_batch_size in [1, 4096] and "
                            "save_steps >= 1")
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

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate training uses: the given one, else the fine-tuning mode's default (LoRA
        adapters need a far higher rate than full fine-tuning; 2e-5 leaves LoRA at chance level)."""
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_LEARNING_RATE if self.finetune == "lora" else FULL_LEARNING_RATE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return from_dict(cls, data)


def non_default(instance) -> dict:
    """The fields of a dataclass instance that differ from their defaults (a recipe, an option set)."""
    out = {}
    for f in fields(instance):
        value = getattr(instance, f.name)
        if field_default(f) is MISSING or value != field_default(f):
            out[f.name] = value
    return out


def option_text(value) -> str:
    """A value as the command line reads it back: JSON (lists, bools, None, numbers), plain for strings."""
    if isinstance(value, str):
        try:  # a string that reads as JSON ("1", "true", "[1]") must stay a string: quote it
            json.loads(value)
        except (json.JSONDecodeError, ValueError):
            return value
        return json.dumps(value)
    return json.dumps(value)


def parse_option_text(text: str):
    """Inverse of `option_text`: JSON when it parses, else the plain string."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


@dataclass
class ExperimentConfig:
    """What to train and evaluate. Plain data: serialises into the record; `to_command` re-creates the CLI line.

    `method_options` holds the method's own options (its config dataclass, see `xlt methods`);
    `xlt.experiment.validate` checks them in context and keeps only the non-default ones.
    """

    task: str
    method: str = "zero-shot"
    model: str = DEFAULT_MODEL
    source_languages: list[str] = field(default_factory=lambda: ["en"])
    target_languages: list[str] | None = None
    train_split: str | None = None
    eval_split: str | None = None
    method_options: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            self.train = TrainConfig.from_dict(self.train)
        if not isinstance(self.train, TrainConfig):
            raise XltError("train must be a mapping of training settings")
        for name in ("task", "method", "model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise XltError(f"{name} must be a non-empty name, got {value!r}")
            setattr(self, name, value.strip())
        self.source_languages = _languages(self.source_languages, "source_languages") or []
        if not self.source_languages:
            raise XltError("give at least one source language")
        self.target_languages = _languages(self.target_languages, "target_languages")
        for name in ("train_split", "eval_split"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not SPLIT.match(value) or ".." in value):
                raise XltError(f"{name} must be a split name such as 'train' or 'train+validation', got "
                               f"{str(value)[:40]!r}")
        if not isinstance(self.method_options, dict):
            raise XltError("method_options must be a mapping of option names to values")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["train"] = self.train.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        return from_dict(cls, data)

    def canonical(self) -> dict:
        """The settings that identify the experiment: every value that differs from its default.

        A setting added later with a default therefore never changes the identity (fingerprint) of
        an experiment recorded before it existed.
        """
        data = {k: v for k, v in self.to_dict().items() if k not in ("train", "method_options")}
        data = {k: v for k, v in data.items() if v is not None}
        data["train"] = non_default(self.train)
        data["method_options"] = dict(self.method_options)
        return data

    def with_precision(self, precision: str) -> ExperimentConfig:
        """A copy of these settings trained at `precision` (the sweep's `--precision`, a run's precision twin)."""
        other = copy.deepcopy(self)
        other.train.precision = precision
        return other

    def fingerprint(self) -> str:
        """Stable hash of the settings: equal configs are the same experiment (sweeps skip them)."""
        canonical = json.dumps(self.canonical(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_command(self, protocol: str | None = None, premise_control: bool = False) -> str:
        """The `xlt train` line that re-runs this experiment (non-default settings only), with the run's
        protocol label and premise-shuffled control when it had them (they are not part of the config: the
        same experiment under two labels is still one experiment)."""
        parts = ["xlt", "train", "--task", self.task, "--method", self.method, "--model", self.model,
                 "--source", ",".join(self.source_languages)]
        if self.target_languages:
            parts += ["--targets", ",".join(self.target_languages)]
        if self.train_split:
            parts += ["--train-split", self.train_split]
        if self.eval_split:
            parts += ["--eval-split", self.eval_split]
        for key, value in sorted(self.method_options.items()):
            parts += ["--option", f"{key}={option_text(value)}"]
        for name, value in non_default(self.train).items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else "--no-" + name.replace("_", "-"))
            elif value is None:
                parts += [flag, "none"]
            else:
                parts += [flag, str(value)]
        if protocol:
            parts += ["--protocol", protocol]
        if premise_control:
            parts.append("--premise-control")
        return shlex.join(parts)


def _languages(value, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise XltError(f"{what} must be a list of language codes")
    langs = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    check_language_codes(langs, what)
    return langs or None


def check_language_codes(codes, what: str) -> None:
    """Refuse values that are not language codes (`LANGUAGE`): a code names a data file, so `../../tmp/x` in a
    target list would read (or probe for) any `.jsonl` file on the machine."""
    bad = [str(code)[:20] for code in codes if not isinstance(code, str) or not LANGUAGE.match(code)]
    if bad:
        primary_lowered = [code.partition("-")[0].lower() + "".join(code.partition("-")[1:]) for code in bad]
        fixed = [code for code in primary_lowered if LANGUAGE.match(code)]  # `EN`, `PT-BR`: say how to write them
        hint = f"; in lower case: {fixed[:5]}" if fixed else ""
        raise XltError(f"{what} holds values that are not language codes: {bad[:5]} (give codes such as en, zh, "
                       f"ast or pt-BR{hint})")


def check_option_names(cls, values: dict, owner: str) -> None:
    """Refuse option names that options dataclass `cls` lacks, listing the ones it has (`owner`: "method
    'few-shot'", "translator 'apertium'")."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise XltError(f"{owner} has no option(s) {unknown}; its options: {', '.join(known) or 'none'}")


def from_dict(cls, data: dict):
    """Build dataclass `cls` from a dict, rejecting unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise XltError(f"{cls.__name__} settings must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise XltError(f"unknown {cls.__name__} settings {unknown}; known: {sorted(known)}")
    try:
        instance = cls(**data)
    except TypeError as exc:
        raise XltError(f"bad {cls.__name__} settings: {exc}") from exc
    return coerce_fields(instance, f"bad {cls.__name__} settings")


def coerce_fields(instance, what: str):
    """Check each field's value against its annotation (ints for ints, finite numbers, lists of the item
    type, None only where optional); ints given for floats become floats, so 3 and 3.0 are one setting."""
    problems = []
    for f in fields(instance):
        value = getattr(instance, f.name)
        try:
            kind = field_kind(f)
        except (IndexError, ValueError):
            continue
        if value is None:
            if not kind.optional:
                problems.append(f"{f.name} must not be empty")
            continue
        ok = _of_type(value, kind.base, kind.item)
        if ok and kind.base == "float":
            object.__setattr__(instance, f.name, float(value))
        elif not ok:
            problems.append(f"{f.name} must be {'a list of ' + kind.item if kind.base == 'list' else kind.base}"
                            f"{' or none' if kind.optional else ''}, got {str(value)[:40]!r}")
    if problems:
        raise XltError(f"{what}: " + "; ".join(problems))
    return instance


def _of_type(value, base: str, item: str = "str") -> bool:
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if base == "str":
        return isinstance(value, str)
    if base == "list":
        return isinstance(value, list) and all(_of_type(v, item) for v in value)
    return True


def field_default(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return MISSING


@dataclass(frozen=True)
class FieldKind:
    """What a config field holds, for generated CLI flags and form inputs."""

    base: str  # "bool", "int", "float", "str", "list" or "any"
    optional: bool  # None is allowed
    item: str = "str"  # element type of a list


def field_kind(f) -> FieldKind:
    """Read a dataclass field's annotation (a string under `from __future__ import annotations`)."""
    text = str(f.type).replace("typing.", "").replace(" ", "")
    optional = "None" in text.split("|") or text.startswith("Optional[")
    core = [t for t in text.replace("Optional[", "").rstrip("]").split("|") if t != "None"][0] if optional else text
    if core.startswith(("list[", "tuple[")):
        return FieldKind("list", optional, core[core.index("[") + 1:].rstrip("]").split(",")[0] or "str")
    if core in ("bool", "int", "float", "str"):
        return FieldKind(core, optional)
    return FieldKind("any", optional)  # dicts, nested configs: JSON on the command line


def convert_value(kind: FieldKind, text: str, name: str):
    """A command-line or form string as the field's type ("none" for None, lists comma-separated or JSON)."""
    if kind.optional and text.strip().lower() in ("none", "null", ""):
        return None
    cast = {"int": int, "float": float, "str": str, "bool": lambda v: v.strip().lower() in ("1", "true", "yes")}
    try:
        if kind.base == "list":
            value = parse_option_text(text) if text.strip().startswith("[") else [
                v.strip() for v in text.split(",") if v.strip()]
            if not isinstance(value, list):
                raise ValueError
            return [cast[kind.item](v) if isinstance(v, str) else v for v in value]
        return cast.get(kind.base, parse_option_text)(text)
    except (ValueError, TypeError):
        raise XltError(f"{name}: {text!r} is not a {kind.base}" + (" (or none)" if kind.optional else "")) from None
