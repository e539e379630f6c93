"""An experiment: config -> data -> model -> method -> evaluation -> result record."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .config import TrainConfig, from_dict
from .errors import XltError
from .methods import get_method
from .models.registry import DEFAULT_MODEL, resolve_model
from .tasks import get_task


@dataclass
class ExperimentConfig:
    """What to train and evaluate. Serialises into the record; `to_command` re-creates the CLI line."""

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
        task = get_task(self.task)
        method = get_method(self.method)
        resolve_model(self.model)
        if isinstance(self.source_languages, str):
            self.source_languages = [s for s in self.source_languages.split(",") if s]
        self.source_languages = list(dict.fromkeys(self.source_languages))
        if not self.source_languages:
            raise XltError("give at least one source language")
        if len(self.source_languages) > 1 and not method.multi_source:
            raise XltError(f"method {self.method!r} takes one source language, got {self.source_languages}")
        targets = self.target_languages or []
        unknown = [lang for lang in [*self.source_languages, *targets] if lang not in task.languages]
        if unknown:
            raise XltError(f"task {self.task!r} has no language(s) {unknown}; it has: {', '.join(task.languages)}")
        self.method_config()  # validates the options

    def method_config(self):
        return from_dict(get_method(self.method).config_cls, dict(self.method_options))

    @property
    def targets(self) -> list[str]:
        return list(self.target_languages or get_task(self.task).languages)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["train"] = self.train.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        return from_dict(cls, data)

    def fingerprint(self) -> str:
        """Stable hash of the settings: equal configs are the same experiment (sweeps skip them)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_command(self) -> str:
        """The `xlt train` line that re-runs this experiment."""
        parts = ["xlt", "train", "--task", self.task, "--method", self.method, "--model", self.model,
                 "--source", ",".join(self.source_languages)]
        if self.target_languages:
            parts += ["--targets", ",".join(self.target_languages)]
        if self.train_split:
            parts += ["--train-split", self.train_split]
        if self.eval_split:
            parts += ["--eval-split", self.eval_split]
        for key, value in sorted(self.method_options.items()):
            parts += ["--option", f"{key}={value}"]
        for f in fields(TrainConfig):
            value = getattr(self.train, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else "--no-" + f.name.replace("_", "-"))
            elif value is None or value == "":
                continue
            else:
                parts += [flag, str(value)]
        return shlex.join(parts)


def run_experiment(config: ExperimentConfig, *, results_dir: str | Path | None = None,
                   save_model_to: str | Path | None = None, output_dir: str | Path | None = None,
                   data_dir: str | Path | None = None, callbacks: list | None = None,
                   show_progress: bool = True) -> dict:
    """Train with the configured method, evaluate every target language, write the record.

    Returns the validated record (also written under `results_dir/<task>/` when given).
    """
    from .evaluation import evaluate_languages, summarise
    from .methods import MethodContext
    from .models.loading import model_fingerprint, save_classifier
    from .results.records import build_record, write_record
    from .settings import data_dir as default_data_dir
    from .settings import home_dir

    task = get_task(config.task)
    method = get_method(config.method)
    spec = resolve_model(config.model)
    out = Path(output_dir) if output_dir else home_dir() / "runs" / config.fingerprint()
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    ctx = MethodContext(experiment=config, task=task, model_spec=spec, method_config=config.method_config(),
                        output_dir=out, data_dir=data_dir, callbacks=list(callbacks or []))
    trained = method.run(ctx)
    trained.info.model_fingerprint = model_fingerprint(spec)
    lora = config.train.finetune == "lora"
    if lora:  # fold the adapters into the weights while evaluating: fewer matmuls per token
        trained.model.encoder.merge_adapter()
    try:
        metrics = evaluate_languages(trained, task, config.targets, split=config.eval_split, data_dir=data_dir,
                                     max_samples=config.train.max_eval_samples, seed=config.train.seed,
                                     batch_size=config.train.eval_batch_size, show_progress=show_progress)
    finally:
        if lora:
            trained.model.encoder.unmerge_adapter()
    summary = summarise(metrics, task.metric, config.source_languages)
    data_source = f"local:{task.local_dir}" if data_dir else f"hub:{task.hub_dataset}"
    record = build_record(config, trained, metrics, summary, data_source=data_source)
    trained.info.run_id = record["run_id"]
    if save_model_to:
        save_classifier(trained.model, trained.tokenizer, trained.info, save_model_to)
    if results_dir:
        record["path"] = str(write_record(record, results_dir))
    return record
