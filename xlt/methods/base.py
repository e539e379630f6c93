"""The method contract: a transfer method declares what it changes through optional hooks.

A method is one module under `xlt/methods/` (or any module named in `XLT_PLUGINS`) holding a
`TransferMethod` subclass and its options dataclass, registered by name. Every hook has a
default that gives plain zero-shot fine-tuning, so a method overrides only what it changes:

- `options_cls`: the method's own options, a dataclass whose field metadata carries the help
  text; the CLI flags and the app's form are generated from it, records store its non-default
  values, and it round-trips exactly through the record's `command`.
- `validate(ctx)`: options checked in context before any training (languages exist for the task,
  K within the data, a dictionary or translator for each language); raise `XltError`.
- `seen_languages(ctx)`: the languages whose labelled data (or translations of it) the run trains
  on; summaries count only the others as zero-shot targets.
- `training_data(ctx)`: the *data* hook: the labelled set to train on (few-shot, translate-train,
  code-switching and multi-source change only this).
- `train_size(ctx, source_rows)`: the example-epochs the run will train, counted from the rows of each
  source language it reads, without building the data (translations, switched copies, shots):
  `xlt sweep --dry-run`'s time estimate scales each cell by it.
- `fit(ctx, train_ds)`: the *fit* hook: the training loop; the default is the shared Trainer loop
  (checkpoints, resume, progress, stats). Returns an artifact (see `xlt.models.artifacts`).
- `artifact_kind`: how the trained model is saved and loaded (`classifier` by default); the
  artifact's `predict_proba(first, second, lang)` is the *prediction* hook, receiving each input's
  language (translate-test translates from it, language adapters are chosen by it).
- `ctx.sub_run(name, **changes)`: runs that need several trained models (merging members,
  ensembles) get sub-runs with their own output folders, seeds and resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import XltError

if TYPE_CHECKING:  # typing only: no import cycle, no torch at import time
    from ..config import ExperimentConfig
    from ..models.registry import ModelSpec
    from ..tasks import TaskSpec


@dataclass
class NoOptions:
    """This method has no options beyond the shared training settings."""


@dataclass
class MethodContext:
    """Everything a method's hooks need, resolved from the experiment config."""

    experiment: ExperimentConfig
    task: TaskSpec
    model_spec: ModelSpec
    options: Any  # the method's options dataclass instance
    output_dir: Path
    data_dir: Path | None = None
    callbacks: list = field(default_factory=list)
    show_progress: bool = True

    @property
    def train(self):
        return self.experiment.train

    def sub_run(self, name: str, **changes) -> MethodContext:
        """A context for one member of a multi-model run: its own output folder (so each member
        checkpoints and resumes on its own) and, through `changes`, its own experiment settings
        (`seed=43`, `source_languages=[...]`, `method_options={...}`)."""
        train_changes = {k: changes.pop(k) for k in list(changes) if k in {f.name for f in fields(self.train)}}
        experiment = replace(self.experiment, **changes)
        if train_changes:
            experiment = replace(experiment, train=replace(self.experiment.train, **train_changes))
        return replace(self, experiment=experiment, output_dir=self.output_dir / "members" / name)


def zero_shot_run_folder(ctx: MethodContext) -> Path:
    """Where the zero-shot run of these settings keeps its checkpoints: methods whose first stage is exactly
    that source model (few-shot on non-parallel tasks, translate-test) train (or resume) there, so it is
    trained once. The run with the same targets if it exists, else one over all the task's languages (the
    protocol grids' zero-shot cells; targets do not change what it trains), else a new one with these
    targets."""
    from ..run_folders import run_folder

    same = replace(ctx.experiment, method="zero-shot", method_options={})
    folders = [run_folder(config) for config in (same, replace(same, target_languages=None))]
    return next((folder for folder in folders if folder.is_dir()), folders[0])


def zero_shot_run_finished(ctx: MethodContext) -> bool:
    """Whether the zero-shot run of these settings (`zero_shot_run_folder`) has finished training."""
    from ..training import training_finished

    return training_finished(zero_shot_run_folder(ctx) / "checkpoints")


def staged_stats(source: dict, trained: dict) -> dict:
    """The training statistics of a two-stage run (a source model, then more training on it: few-shot, maml): the
    second stage's, with `train_seconds` what the model cost, its source stage included even when an earlier cell
    trained it, and `train_seconds_this_run` what this run spent (a learning curve pays for its source stage
    once); the source stage's own under `source_stage`."""
    both = (source, trained)
    return {**trained, "source_stage": {k: v for k, v in source.items() if k != "loss_curve"},
            "warnings": [w for s in both for w in s.get("warnings", [])],  # a collapsed source stage is the run's
            "train_seconds": sum(s["train_seconds"] for s in both),
            "train_seconds_this_run": sum(s.get("train_seconds_this_run", 0.0) for s in both),
            **({"train_seconds_partial": True} if any(s.get("train_seconds_partial") for s in both) else {})}


def folded(encoder):
    """The encoder with its LoRA adapter folded into its weights (peft's `merge_and_unload`); any other as it is."""
    return encoder.merge_and_unload() if hasattr(encoder, "merge_and_unload") else encoder


def continue_training(ctx: MethodContext, source, train_ds, config, output_dir: Path, languages: list[str],
                      **kwargs):
    """The second stage of a two-stage method (few-shot's shots, maml's episodes): train on `train_ds` from the
    trained classifier `source` (its adapter folded in, a fresh LoRA on that, its head), save the whole encoder
    (the adapter sits on the source model, not on the base), and report both stages (`staged_stats`).
    `kwargs` go to `train_classifier`."""
    from ..training import train_classifier

    head = {k: v.detach().clone() for k, v in source.model.head.state_dict().items()}
    trained = train_classifier(ctx.task, ctx.model_spec, train_ds, config, output_dir, callbacks=ctx.callbacks,
                               languages=languages, encoder=folded(source.model.encoder), head_state=head, **kwargs)
    if hasattr(trained.model.encoder, "merge_and_unload"):
        trained.model.encoder = folded(trained.model.encoder)
        trained.info.finetune = "full"
    trained.stats = staged_stats(source.stats, trained.stats)
    return trained


def capped(ctx: MethodContext, rows: int) -> int:
    """`rows` after the run's `max_train_samples`."""
    cap = ctx.train.max_train_samples
    return rows if cap is None else min(rows, cap)


class TransferMethod:
    """Base class of transfer methods; the defaults are zero-shot fine-tuning on the source languages."""

    name: ClassVar[str] = ""
    options_cls: ClassVar[type] = NoOptions
    description: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()  # e.g. ("target labels",), ("dictionary",), ("translator",)
    multi_source: ClassVar[bool] = True
    artifact_kind: ClassVar[str] = "classifier"
    trains: ClassVar[bool] = True  # False: evaluates a model as it is (no training split is read)

    # --- options -----------------------------------------------------------------------------------
    def options(self, values: dict | None):
        """The options dataclass from a mapping, unknown names and bad types refused."""
        from ..config import check_option_names, from_dict

        values = dict(values or {})
        check_option_names(self.options_cls, values, f"method {self.name!r}")
        return from_dict(self.options_cls, values)

    # --- hooks -------------------------------------------------------------------------------------
    def validate(self, ctx: MethodContext) -> None:
        """Check the options against the task and data before any training; raise `XltError`."""

    def seen_languages(self, ctx: MethodContext) -> list[str]:
        """Languages whose labelled data (or its translations) the run trains on."""
        return list(ctx.experiment.source_languages)

    def training_data(self, ctx: MethodContext):
        """The labelled training set (a `datasets.Dataset` with the task's text fields and `label`)."""
        from .data import load_source_training_data

        return load_source_training_data(ctx)

    def train_size(self, ctx: MethodContext, source_rows: dict[str, int]) -> float:
        """Training examples × epochs of the run, from the rows of each source language's training split
        (`{lang: rows}`, before `max_train_samples`); only counted, nothing loaded. Default: the source
        rows up to the cap, every epoch."""
        return float(capped(ctx, sum(source_rows.values())) * ctx.train.epochs) if self.trains else 0.0

    def timed_like(self, options) -> str | None:
        """Another method whose records time this one's cells while it has none of its own (`xlt sweep`'s
        estimate), where its cost differs in kind from fine-tuning (an embedding pass, no backward pass); None:
        zero-shot's training, the default."""
        return None

    def remaining_train_size(self, ctx: MethodContext, source_rows: dict[str, int]) -> float:
        """What of `train_size` is still to train: less what a finished run sharing this run's checkpoints
        (the zero-shot run of these settings, for translate-test and few-shot's source stage) already trained.
        A sweep's time estimate sizes the cells to run with it (a record's time is sized by `train_size`)."""
        return self.train_size(ctx, source_rows)

    def fit(self, ctx: MethodContext, train_ds):
        """Train and return the artifact (default: the shared Trainer loop, one classifier)."""
        from ..training import train_classifier

        return train_classifier(ctx.task, ctx.model_spec, train_ds, ctx.train, ctx.output_dir,
                                callbacks=ctx.callbacks, languages=self.seen_languages(ctx))

    def run(self, ctx: MethodContext):
        """Data hook, then fit hook: the trained artifact."""
        train_ds = self.training_data(ctx)
        if len(train_ds) == 0:
            raise XltError(f"method {self.name!r} produced no training examples")
        return self.fit(ctx, train_ds)
