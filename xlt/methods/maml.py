"""Meta-learning (MAML): a source model, then meta-trained on auxiliary languages to adapt from little data.

X-MAML (Nooralahzadeh et al., 2020, "Zero-shot cross-lingual transfer with meta learning") trains a
model on the source language, then meta-learns on one or more *auxiliary* languages with MAML
(Finn et al., 2017): each episode is a small support set and a query set of one language; the
model takes a few SGD steps on the support set (the inner loop), and the query set's loss at those
adapted weights updates the shared weights (the outer loop). The model is pushed toward weights
from which a few steps fit any one language, and the paper reports gains on unseen target
languages over training on the auxiliary data directly. The sources are given as
`--source en,es,de`: the first is the pre-training language, the others the auxiliary languages.

Stage 1 is exactly the zero-shot run from the first source (its folder is shared: trained once for
every method that starts from it). Stage 2 starts from that model (adapter folded in, a fresh LoRA,
its head) and meta-trains with the first-order approximation (FOMAML: the query gradient at the
adapted weights is applied to the shared weights; no second derivatives, so it costs what
`inner_steps + 1` plain steps cost per episode). Episodes are drawn per auxiliary language with the
seed: each language's rows (up to `max_train_samples` of them) shuffled per pass and cut into
episodes of `support` + `support` rows, all episodes shuffled together, `tasks_per_step` of them per
meta-update (Trainer's gradient accumulation). The Trainer keeps its checkpoints, resume and
progress; the run trains on one process (the inner loop is not written for several).

The method changes the *fit* hook; the saved model is an ordinary classifier (full encoder, as
few-shot's second stage).

When to use: labelled data in a few languages besides the source, to teach the model to transfer
rather than to train on them directly (compare `multi-source` and `model-merging` on the same
languages).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field, replace

from ..errors import XltError
from .base import TransferMethod, capped, continue_training, zero_shot_run_finished, zero_shot_run_folder
from .registry import register_method

logger = logging.getLogger(__name__)


@dataclass
class MamlOptions:
    inner_steps: int = field(default=2, metadata={"help": "SGD steps on each episode's support set (inner loop)"})
    inner_lr: float = field(default=0.01, metadata={"help": "learning rate of the inner SGD steps"})
    support: int = field(default=8, metadata={
        "help": "examples in an episode's support set (its query set has as many, of the same language)"})
    tasks_per_step: int = field(default=4, metadata={"help": "episodes per meta-update of the shared weights"})
    meta_epochs: float = field(default=2.0, metadata={"help": "passes over the auxiliary languages' rows"})


class Maml(TransferMethod):
    name = "maml"
    options_cls = MamlOptions
    description = ("The zero-shot source model, then first-order MAML episodes on auxiliary languages (X-MAML): "
                   "learn weights a few steps adapt to any one language.")
    when_to_use = ("Labels in a few languages besides the source, used to learn to transfer instead of training on "
                   "them directly; first source = pre-training language, the others auxiliary.")
    needs = ("labels in each auxiliary language",)

    def validate(self, ctx) -> None:
        opts = ctx.options
        if len(ctx.experiment.source_languages) < 2:
            raise XltError("maml needs a pre-training language and at least one auxiliary language: "
                           "--source en,es,de (the first pre-trains, the others are meta-learnt on)")
        if not 1 <= opts.inner_steps <= 20:
            raise XltError(f"inner_steps must be in 1..20, got {opts.inner_steps}")
        if not (math.isfinite(opts.inner_lr) and 0 < opts.inner_lr <= 1):
            raise XltError(f"inner_lr must be in (0, 1], got {opts.inner_lr}")
        if not 1 <= opts.support <= 512:
            raise XltError(f"support must be in 1..512, got {opts.support}")
        if not 1 <= opts.tasks_per_step <= 64:
            raise XltError(f"tasks_per_step must be in 1..64, got {opts.tasks_per_step}")
        if not (math.isfinite(opts.meta_epochs) and 0 < opts.meta_epochs <= 100):
            raise XltError(f"meta_epochs must be in (0, 100], got {opts.meta_epochs}")
        from ..training import world_size

        if world_size() > 1 or _visible_gpus() > 1:  # several processes, or the Trainer's DataParallel over GPUs
            raise XltError("maml trains on one process and one device (its inner loop is not written for several): "
                           "run it without accelerate launch, with one GPU visible (CUDA_VISIBLE_DEVICES=0)")
        if ctx.data_dir is not None:  # Hub data is checked when the episodes are cut, before stage 1 trains
            from ..data import check_local_files, local_row_count

            split = ctx.experiment.train_split or ctx.task.train_split
            check_local_files(ctx.task, [(lang, split) for lang in self._auxiliary(ctx)], ctx.data_dir)
            rows = {lang: capped(ctx, local_row_count(ctx.task, lang, split, ctx.data_dir))
                    for lang in self._auxiliary(ctx)}
            self._episode_counts(ctx, rows, split)

    def _episode_counts(self, ctx, rows: dict[str, int], split: str) -> list[list[int]]:
        """Episodes per pass and language (`rows`: each auxiliary language's usable rows); a language with fewer
        rows than one episode, or settings that make no whole episode, refused."""
        opts, size = ctx.options, 2 * ctx.options.support
        for lang, n in rows.items():
            if n < size:
                raise XltError(f"{lang} has {n} usable labelled rows in {split}: fewer than one episode "
                               f"(2 x support = {size})")
        counts = [[int(n * min(1.0, opts.meta_epochs - p)) // size for n in rows.values()]
                  for p in range(math.ceil(opts.meta_epochs))]  # a last partial pass takes that share of each
        if not sum(map(sum, counts)):
            raise XltError(f"meta_epochs={opts.meta_epochs} makes no whole episode of {size} rows")
        return counts

    def _auxiliary(self, ctx) -> list[str]:
        return list(ctx.experiment.source_languages[1:])

    def _source_context(self, ctx):
        """The zero-shot run from the first source alone: stage 1 (its folder is `zero_shot_run_folder`)."""
        return replace(ctx, experiment=replace(ctx.experiment, source_languages=ctx.experiment.source_languages[:1]))

    def training_data(self, ctx):
        return TransferMethod.training_data(self, self._source_context(ctx))  # stage 1's, the zero-shot run's

    def _meta_size(self, ctx, source_rows: dict[str, int]) -> float:
        """Row-passes of stage 2: each episode row once per inner step (support) or once (query)."""
        opts = ctx.options
        rows = sum(capped(ctx, source_rows.get(lang, 0)) for lang in self._auxiliary(ctx)) * opts.meta_epochs
        return float(rows * (opts.inner_steps + 1) / 2)

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        first = ctx.experiment.source_languages[0]
        return float(capped(ctx, source_rows.get(first, 0)) * ctx.train.epochs) + self._meta_size(ctx, source_rows)

    def remaining_train_size(self, ctx, source_rows: dict[str, int]) -> float:
        if zero_shot_run_finished(self._source_context(ctx)):
            return self._meta_size(ctx, source_rows)
        return self.train_size(ctx, source_rows)

    def episodes(self, ctx):
        """Stage 2's rows in training order: each auxiliary language's rows shuffled per pass and cut into episodes
        of 2 x support rows (support, then query), every episode shuffled together with the seed."""
        import datasets
        import numpy as np

        from ..data import load_split

        exp, opts = ctx.experiment, ctx.options
        split = exp.train_split or ctx.task.train_split
        parts = {lang: load_split(ctx.task, lang, split, ctx.data_dir) for lang in self._auxiliary(ctx)}
        cap = exp.train.max_train_samples  # per auxiliary language, as per source: the same rows every pass
        parts = {lang: ds.shuffle(seed=exp.train.seed).select(range(min(cap, len(ds)))) if cap else ds
                 for lang, ds in parts.items()}
        size = 2 * opts.support
        counts = self._episode_counts(ctx, {lang: len(ds) for lang, ds in parts.items()}, split)
        offsets = dict(zip(parts, np.cumsum([0] + [len(ds) for ds in parts.values()]).tolist()))
        rng = np.random.default_rng(exp.train.seed)
        chosen: list[np.ndarray] = []  # each episode's row indices in the languages' concatenation
        for per_language in counts:
            for (lang, ds), n in zip(parts.items(), per_language):
                order = rng.permutation(len(ds)) + offsets[lang]
                chosen += [order[i * size:(i + 1) * size] for i in range(n)]
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        n = len(chosen) - len(chosen) % opts.tasks_per_step or len(chosen)  # whole meta-updates where there are
        return datasets.concatenate_datasets(list(parts.values())).select(np.concatenate(chosen[:n]).tolist())

    def fit(self, ctx, train_ds):
        from ..training import train_classifier

        opts = ctx.options
        episodes = self.episodes(ctx)  # cut before stage 1 trains: data that makes no episode fails first
        source = train_classifier(ctx.task, ctx.model_spec, train_ds, ctx.train,
                                  zero_shot_run_folder(self._source_context(ctx)), callbacks=ctx.callbacks,
                                  languages=ctx.experiment.source_languages[:1])
        # stage 2: one pass over the episodes in their order, an episode a batch, tasks_per_step per update
        stage2 = replace(ctx.train, epochs=1.0, batch_size=2 * opts.support,
                         gradient_accumulation_steps=opts.tasks_per_step, head_init="random",
                         average_last_epochs=0, warmup_ratio=0.0)
        trainer = functools.partial(MamlTrainer, inner_steps=opts.inner_steps, inner_lr=opts.inner_lr)
        trained = continue_training(ctx, source, episodes, stage2, ctx.output_dir / "meta", self.seen_languages(ctx),
                                    trainer_cls=trainer, sampling="sequential")
        trained.stats["episodes"] = trained.stats["train_examples"] // (2 * opts.support)
        return trained


@functools.lru_cache(maxsize=1)
def _maml_trainer_class():
    from transformers import Trainer

    class _MamlTrainer(Trainer):
        """Trainer whose training step is one first-order MAML episode: the batch's first half is the support set,
        the second the query set (one language: the episodes are laid out so, read in order)."""

        def __init__(self, *args, inner_steps: int, inner_lr: float, **kwargs):
            super().__init__(*args, **kwargs)
            self.inner_steps, self.inner_lr = inner_steps, inner_lr

        def training_step(self, model, inputs, num_items_in_batch=None):
            import torch

            params = [p for p in model.parameters() if p.requires_grad]
            shared = [p.detach().clone() for p in params]
            try:  # the query loss's gradient lands in .grad at the adapted weights (first-order MAML) ...
                return super().training_step(model, inputs, num_items_in_batch)
            finally:  # ... and the shared weights come back before the optimizer applies it
                with torch.no_grad():
                    for p, s in zip(params, shared):
                        p.copy_(s)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            if not model.training:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            half = inputs["labels"].shape[0] // 2
            support = {k: v[:half] for k, v in inputs.items()}
            query = {k: v[half:] for k, v in inputs.items()}
            params = [p for p in model.parameters() if p.requires_grad]
            for _ in range(self.inner_steps):
                grads = torch.autograd.grad(model(**support).loss, params, allow_unused=True)
                with torch.no_grad():
                    for p, g in zip(params, grads):
                        if g is not None:
                            p.sub_(self.inner_lr * g)
            outputs = model(**query)
            loss = outputs.loss
            if not torch.isfinite(loss):  # a diverged inner loop: skip the episode, never step the shared weights
                logger.warning("maml: an episode's query loss is %s after the inner steps; episode skipped (lower "
                               "inner_lr)", loss.item())
                loss = sum(p.sum() for p in params) * 0.0
            return (loss, outputs) if return_outputs else loss

    return _MamlTrainer


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def MamlTrainer(*args, **kwargs):  # noqa: N802 - a class built on first use: no transformers import at registry time
    return _maml_trainer_class()(*args, **kwargs)


register_method(Maml())
