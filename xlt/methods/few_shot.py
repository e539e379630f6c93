"""Few-shot target fine-tuning: a source-trained model, then K labelled target-language examples.

Lauscher et al. (2020, "From Zero to Hero") showed that a few hundred (sometimes a few dozen)
labelled target examples on top of a source-trained model close much of the zero-shot gap,
cheaply. `mode=continue` (default) trains the source model first (the same run as `zero-shot`
with these settings, so a learning curve over K reuses it) and then fine-tunes it on the K
shots for `shot_epochs`; `mode=joint` trains once on source + shots (shots repeated
`joint_repeat` times so K rows are not drowned). Shots are sampled with the run's seed,
class-balanced by default, from the target language's training split, never from test. For
tasks whose rows are parallel across languages (XNLI), shots come from a fixed pool of
`pool_rows` row indices that is removed from the source data of every few-shot run, so no
shot is a translation of a source row. `shots=0` is zero-shot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import XltError
from .base import TransferMethod, capped, continue_training, zero_shot_run_finished, zero_shot_run_folder
from .registry import register_method

POOL_SEED = 0  # the parallel-row pool is the same for every run, whatever its seed


@dataclass
class FewShotOptions:
    shot_languages: list[str] = field(default_factory=list, metadata={
        "help": "target languages to take K labelled examples from (default: every target language except "
                "the sources)"})
    shots: int = field(default=10, metadata={"help": "K: labelled examples per shot language (0 = zero-shot)"})
    balanced: bool = field(default=True, metadata={"help": "sample the K shots class-balanced"})
    mode: str = field(default="continue", metadata={
        "help": "'continue': fine-tune the source model on the shots; 'joint': one run on source + shots",
        "choices": ("continue", "joint")})
    shot_epochs: float = field(default=10.0, metadata={"help": "epochs over the shots in continue mode"})
    joint_repeat: int = field(default=10, metadata={"help": "copies of each shot in joint mode"})
    pool_rows: int = field(default=500, metadata={
        "help": "parallel tasks: size of the fixed row pool the shots come from (held out of every source)"})


def shot_languages(ctx) -> list[str]:
    langs = ctx.options.shot_languages or [t for t in (ctx.experiment.target_languages or ctx.task.languages)
                                           if t not in ctx.experiment.source_languages]
    return list(dict.fromkeys(langs))


def sample_shots(ds, k: int, num_labels: int, seed: int, balanced: bool):
    """K rows of `ds`, class-balanced when asked (a class with too few rows gives what it has, the rest
    fills from the others), in a seeded order."""
    if k > len(ds):
        raise XltError(f"shots={k} is more than the {len(ds)} labelled rows available")
    shuffled = ds.shuffle(seed=seed)
    if k == len(shuffled):
        return shuffled
    if not balanced:
        return shuffled.select(range(k))
    labels = shuffled["label"]
    per_class = [[i for i, y in enumerate(labels) if y == c] for c in range(num_labels)]
    quota = [k // num_labels + (1 if c < k % num_labels else 0) for c in range(num_labels)]
    chosen = [i for c in range(num_labels) for i in per_class[c][:quota[c]]]
    taken = set(chosen)  # built once: a set per row made the fill quadratic in the split size
    rest = [i for i in range(len(shuffled)) if i not in taken]
    chosen += rest[:k - len(chosen)]
    return shuffled.select(sorted(chosen))


class FewShot(TransferMethod):
    name = "few-shot"
    options_cls = FewShotOptions
    description = "Source fine-tuning, then K labelled target-language examples (a learning curve over K)."
    when_to_use = ("You can label a few dozen to a few hundred target examples: usually the cheapest large gain "
                   "over zero-shot.")
    needs = ("target labels (K per language)",)

    def validate(self, ctx) -> None:
        opts, task = ctx.options, ctx.task
        if not 0 <= opts.shots <= 5000:
            raise XltError(f"shots must be in [0, 5000], got {opts.shots}")
        if opts.shot_epochs <= 0 or opts.joint_repeat < 1 or opts.pool_rows < 1:
            raise XltError("shot_epochs must be > 0, joint_repeat and pool_rows >= 1")
        if opts.mode not in ("continue", "joint"):
            raise XltError(f"mode must be 'continue' or 'joint', got {opts.mode!r}")
        langs = shot_languages(ctx)
        if opts.shots and not langs:
            raise XltError("no shot language: give shot_languages or targets other than the sources")
        unknown = [lang for lang in langs if lang not in task.languages]
        if unknown:
            raise XltError(f"shot_languages {unknown} are not languages of task {task.name!r}")
        if task.parallel and opts.shots > opts.pool_rows:
            raise XltError(f"shots={opts.shots} is more than the held-out pool of {opts.pool_rows} parallel rows "
                           "(raise pool_rows)")
        if opts.shots and ctx.data_dir is not None:
            from ..data import check_local_files, local_row_count

            split = self._shot_split(ctx)  # Hub data is checked when the shots are drawn
            check_local_files(task, [(lang, split) for lang in langs], ctx.data_dir)
            for lang in langs:
                rows = local_row_count(task, lang, split, ctx.data_dir)
                available = min(rows, opts.pool_rows) if task.parallel else rows
                if opts.shots > available:
                    raise XltError(f"shots={opts.shots} is more than the {available} labelled {lang} rows "
                                   f"available in {split}")

    def seen_languages(self, ctx) -> list[str]:
        extra = shot_languages(ctx) if ctx.options.shots else []
        return list(dict.fromkeys([*ctx.experiment.source_languages, *extra]))

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """Both stages, as a record's `train_seconds` times them (on non-parallel tasks the source stage is the
        zero-shot run's, trained once for all K: `remaining_train_size` leaves it out once it is done)."""
        opts = ctx.options
        if not opts.shots:
            return super().train_size(ctx, source_rows)
        held = opts.pool_rows if ctx.task.parallel else 0  # the shots' pool is held out of every source
        source = capped(ctx, sum(max(0, rows - held) for rows in source_rows.values()))
        shots = opts.shots * len(shot_languages(ctx))
        if opts.mode == "joint":
            return float((source + shots * opts.joint_repeat) * ctx.train.epochs)
        return float(source * ctx.train.epochs + shots * opts.shot_epochs)

    def remaining_train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """The shots' stage only, once the zero-shot run that is its source stage (non-parallel tasks, continue
        mode) has finished: a learning curve over K trains that source model once."""
        opts = ctx.options
        if opts.shots and opts.mode == "continue" and not ctx.task.parallel and zero_shot_run_finished(ctx):
            return float(opts.shots * len(shot_languages(ctx)) * opts.shot_epochs)
        return self.train_size(ctx, source_rows)

    def _shot_split(self, ctx) -> str:
        return ctx.experiment.train_split or ctx.task.train_split

    def _pool(self, n_rows: int, pool_rows: int) -> list[int]:
        import numpy as np

        return sorted(np.random.default_rng(POOL_SEED).permutation(n_rows)[:pool_rows].tolist())

    def _source_data(self, ctx):
        """Source rows; for parallel tasks without the shot pool's row indices."""
        from .data import load_source_training_data

        if not ctx.task.parallel or not ctx.options.shots:
            return load_source_training_data(ctx)
        from ..data import load_split

        exp = ctx.experiment
        split = exp.train_split or ctx.task.train_split
        parts = []
        for lang in exp.source_languages:
            ds = load_split(ctx.task, lang, split, ctx.data_dir)
            held = set(self._pool(len(ds), ctx.options.pool_rows))
            parts.append(ds.select([i for i in range(len(ds)) if i not in held]))
        import datasets

        ds = datasets.concatenate_datasets(parts).shuffle(seed=exp.train.seed)
        cap = exp.train.max_train_samples
        return ds.select(range(cap)) if cap is not None and cap < len(ds) else ds

    def _shots(self, ctx):
        import datasets

        from ..data import load_split

        opts, parts = ctx.options, []
        for lang in shot_languages(ctx):
            ds = load_split(ctx.task, lang, self._shot_split(ctx), ctx.data_dir)
            if ctx.task.parallel:
                ds = ds.select(self._pool(len(ds), opts.pool_rows))
            if opts.shots > len(ds):
                raise XltError(f"shots={opts.shots} is more than the {len(ds)} labelled {lang} rows available in "
                               f"{self._shot_split(ctx)}")
            parts.append(sample_shots(ds, opts.shots, len(ctx.task.label_names), ctx.train.seed, opts.balanced))
        return datasets.concatenate_datasets(parts)

    def training_data(self, ctx):
        import datasets

        source = self._source_data(ctx)
        if not ctx.options.shots or ctx.options.mode == "continue":
            if ctx.options.shots:
                self._shots(ctx)  # continue mode trains on them in a second stage (fit): draw them now, so data
            return source  # without K rows (Hub data validate could not count) fails before any training
        shots = self._shots(ctx)
        return datasets.concatenate_datasets([source] + [shots] * ctx.options.joint_repeat).shuffle(
            seed=ctx.train.seed)

    def fit(self, ctx, train_ds):
        from ..training import train_classifier

        opts = ctx.options
        if not opts.shots or opts.mode == "joint":
            return super().fit(ctx, train_ds)
        # stage 1: the source model. For non-parallel tasks it is exactly the zero-shot run of these settings,
        # so it shares that run's checkpoint folder: a learning curve over K trains it once.
        if ctx.task.parallel:
            stage1_dir = ctx.output_dir / "source"
        else:
            stage1_dir = zero_shot_run_folder(ctx)
        source = train_classifier(ctx.task, ctx.model_spec, train_ds, ctx.train, stage1_dir,
                                  callbacks=ctx.callbacks, languages=list(ctx.experiment.source_languages))
        # stage 2: the shots, starting from the source model (a fresh LoRA on the merged weights)
        stage2 = replace(ctx.train, epochs=opts.shot_epochs, head_init="random", average_last_epochs=0,
                         warmup_ratio=0.0)
        return continue_training(ctx, source, self._shots(ctx), stage2, ctx.output_dir / "shots",
                                 self.seen_languages(ctx))


register_method(FewShot())
