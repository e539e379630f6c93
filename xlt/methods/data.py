"""Training-data helpers shared by transfer methods' data hooks."""

from __future__ import annotations

from ..data import load_split


def load_source_training_data(ctx, languages: list[str] | None = None):
    """Concatenated training split of the source languages (or `languages`), shuffled with the seed and
    capped by `max_train_samples`."""
    import datasets

    exp = ctx.experiment
    langs = languages or exp.source_languages
    parts = [load_split(ctx.task, lang, exp.train_split or ctx.task.train_split, ctx.data_dir) for lang in langs]
    ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    ds = ds.shuffle(seed=exp.train.seed)
    if exp.train.max_train_samples is not None and exp.train.max_train_samples < len(ds):
        ds = ds.select(range(exp.train.max_train_samples))
    return ds


def translator_of(ctx):
    """The translator named by the method's `translator` option (gold by default on parallel tasks)."""
    from ..translate import translator_for_task

    return translator_for_task(ctx.options.translator, ctx.task, ctx.data_dir)
