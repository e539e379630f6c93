"""Data helpers shared by transfer methods."""

from __future__ import annotations

from ..data import load_split
from .registry import MethodContext


def load_source_training_data(ctx: MethodContext):
    """Concatenated training split of every source language, shuffled, capped by `max_train_samples`."""
    import datasets

    exp = ctx.experiment
    parts = [load_split(ctx.task, lang, exp.train_split or ctx.task.train_split, ctx.data_dir)
             for lang in exp.source_languages]
    ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    ds = ds.shuffle(seed=exp.train.seed)
    if exp.train.max_train_samples is not None and exp.train.max_train_samples < len(ds):
        ds = ds.select(range(exp.train.max_train_samples))
    return ds
