"""Zero-shot transfer: fine-tune on the source language(s) only, evaluate everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from ..training import TrainedClassifier, train_classifier
from .common import load_source_training_data
from .registry import MethodContext, register_method


@dataclass
class ZeroShotConfig:
    """Zero-shot transfer has no options beyond the shared training settings."""


def run(ctx: MethodContext) -> TrainedClassifier:
    exp = ctx.experiment
    train_ds = load_source_training_data(ctx)
    return train_classifier(ctx.task, ctx.model_spec, train_ds, exp.train, ctx.output_dir,
                            callbacks=ctx.callbacks, languages=list(exp.source_languages))


register_method(
    "zero-shot", ZeroShotConfig, run,
    description="Fine-tune on labelled source-language data only; apply the model to every target language.",
    when_to_use="The baseline: no target-language data at all. Works best for languages close to the source "
                "and well covered by the encoder's pre-training.",
    multi_source=True,
)
