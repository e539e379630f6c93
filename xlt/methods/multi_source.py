"""Multi-source transfer: fine-tune on labelled data of several source languages at once.

Training on several languages (e.g. en+es+de) usually transfers better than any one of them
alone, and "all but the target" is the strongest zero-shot setting when labels exist in many
languages (Wu & Dredze, 2019; Lin et al., 2019). Only the data hook changes. `sampling`
decides how much each language contributes: `proportional` keeps every row (big languages
dominate), `balanced` takes as many rows from each language as the smallest one has (or
`budget / languages` each). For XNLI the sources are the validation files and evaluation
uses test, so no evaluated row is ever seen in translation. For "all but the target", list the
other languages as sources and the target as the only target (a sweep cell per target).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import XltError
from .base import TransferMethod
from .registry import register_method


@dataclass
class MultiSourceOptions:
    sampling: str = field(default="proportional", metadata={
        "help": "'proportional': every row of every source; 'balanced': the same number of rows per language",
        "choices": ("proportional", "balanced")})
    budget: int | None = field(default=None, metadata={
        "help": "total training rows over all sources (none = all the sampling allows)"})


class MultiSource(TransferMethod):
    name = "multi-source"
    options_cls = MultiSourceOptions
    description = "Fine-tune on labelled data of several source languages at once."
    when_to_use = ("Labels exist in more than one language: train on all of them (or all but the target). "
                   "Usually beats any single source.")
    needs = ("labelled data in each source language",)

    def validate(self, ctx) -> None:
        if ctx.options.sampling not in ("proportional", "balanced"):
            raise XltError(f"sampling must be 'proportional' or 'balanced', got {ctx.options.sampling!r}")
        if len(ctx.experiment.source_languages) < 2:
            raise XltError("multi-source needs at least two source languages (--source en,de,es)")
        if ctx.options.budget is not None and ctx.options.budget < len(ctx.experiment.source_languages):
            raise XltError(f"budget must be at least one row per source language, got {ctx.options.budget}")

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        opts = ctx.options
        total = sum(source_rows.values())
        if opts.sampling == "balanced" and source_rows:
            each = min(source_rows.values())
            if opts.budget is not None:
                each = min(each, opts.budget // len(source_rows))
            total = each * len(source_rows)
        total = min(x for x in (opts.budget, ctx.train.max_train_samples, total) if x is not None)
        return float(total * ctx.train.epochs)

    def training_data(self, ctx):
        import datasets

        from ..data import load_split

        exp, opts = ctx.experiment, ctx.options
        split = exp.train_split or ctx.task.train_split
        parts = [load_split(ctx.task, lang, split, ctx.data_dir).shuffle(seed=exp.train.seed)
                 for lang in exp.source_languages]
        if opts.sampling == "balanced":
            each = min(len(p) for p in parts)
            if opts.budget is not None:
                each = min(each, opts.budget // len(parts))
            parts = [p.select(range(each)) for p in parts]
        ds = datasets.concatenate_datasets(parts).shuffle(seed=exp.train.seed)
        cap = min(x for x in (opts.budget, exp.train.max_train_samples, len(ds)) if x is not None)
        return ds.select(range(cap))


register_method(MultiSource())
