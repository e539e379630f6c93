"""Frozen embeddings: a logistic regression on the encoder's sentence embeddings; the encoder is not trained.

The oldest cross-lingual baseline with multilingual sentence encoders (LASER: Artetxe & Schwenk,
2019, trained a classifier on frozen embeddings of English data and applied it to every language
the encoder embeds; Conneau et al., 2018, did the same on XNLI with aligned sentence encoders). It
measures how much of the transfer the pre-trained embedding space gives for free, so it is the
floor every fine-tuning method must beat, and a cheap model: one forward pass over the source data
(a GPU when there is one, not needed), nothing to checkpoint.

The method changes the *fit* hook only: the source rows are embedded once with the frozen encoder
(pooled as the model registry says, unit length by default: cosine geometry, as e5 was trained),
and the head is fit as a multinomial logistic regression (L-BFGS, L2 of scikit-learn's `C`). The
training settings that steer gradient descent (learning rate, epochs, batch size, LoRA, warmup) do
not apply; `max_length`, `eval_batch_size` and `encoder_layers` do. The fit is deterministic, so
seeds differ only where `max_train_samples` samples the rows. The saved model is the head and a
reference to the base encoder (`finetune: none`), a few kilobytes, served by Predict like any
classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import XltError
from .base import TransferMethod, capped
from .registry import register_method


@dataclass
class FrozenEmbeddingOptions:
    c: float = field(default=1.0, metadata={
        "help": "inverse L2 strength of the logistic regression, as scikit-learn's C (larger: weaker penalty)"})
    max_iter: int = field(default=200, metadata={"help": "L-BFGS iterations of the fit"})
    normalize: bool = field(default=True, metadata={
        "help": "fit on unit-length embeddings (cosine geometry); false: the raw pooled vectors"})


class FrozenEmbedding(TransferMethod):
    name = "frozen-embedding"
    options_cls = FrozenEmbeddingOptions
    description = ("Logistic regression on frozen encoder embeddings of the source data; the encoder is not "
                   "fine-tuned.")
    when_to_use = ("The floor fine-tuning must beat, and the cheapest model: one pass over the source data, no GPU "
                   "needed. Strong where the encoder's embeddings already align languages.")

    def validate(self, ctx) -> None:
        opts = ctx.options
        if not (math.isfinite(opts.c) and opts.c > 0):
            raise XltError(f"c must be a positive number, got {opts.c}")
        if not 1 <= opts.max_iter <= 10_000:
            raise XltError(f"max_iter must be in 1..10000, got {opts.max_iter}")

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """One forward pass over the source rows (no epochs, no backward pass)."""
        return float(capped(ctx, sum(source_rows.values())))

    def fit(self, ctx, train_ds):
        import time

        import torch
        from transformers import set_seed

        from ..models.classifier import SequenceClassifier
        from ..models.classifier_artifact import TrainedClassifier
        from ..models.layers import keep_bottom_layers
        from ..models.loading import load_encoder, load_tokenizer
        from ..training import classifier_info, fit_linear_probe

        spec, config, opts = ctx.model_spec, ctx.train, ctx.options
        set_seed(config.seed)
        started = time.perf_counter()
        tokenizer = load_tokenizer(spec)
        encoder = load_encoder(spec)
        if config.encoder_layers:
            keep_bottom_layers(encoder, config.encoder_layers)
        model = SequenceClassifier(encoder, len(ctx.task.label_names), pooling=spec.pooling, dropout=0.0,
                                   normalize=opts.normalize).eval()
        model.requires_grad_(False)
        if torch.cuda.is_available():  # the embedding pass (and the evaluation after) on the GPU, in float32
            model.to("cuda")
        probe = fit_linear_probe(model, tokenizer, ctx.task, train_ds, spec.text_prefix, config.max_length,
                                 config.eval_batch_size, l2=1.0 / (opts.c * len(train_ds)), steps=opts.max_iter)
        seconds = time.perf_counter() - started
        stats = {
            "precision": "fp32",
            "train_seconds": round(seconds, 2),
            "train_seconds_this_run": round(seconds, 2),
            "train_examples": len(train_ds),
            "train_examples_per_second": round(len(train_ds) / seconds, 3) if seconds > 0 else None,
            "train_steps": 0,  # no gradient steps on the encoder: one embedding pass and a convex fit
            "trainable_parameters": model.head.weight.numel() + model.head.bias.numel(),
            **probe,
            "warnings": [],
        }
        info = classifier_info(ctx.task, spec, config, self.seen_languages(ctx), opts.normalize, finetune="none")
        training_ended(ctx.callbacks)
        return TrainedClassifier(model=model, tokenizer=tokenizer, info=info, stats=stats)


def training_ended(callbacks: list) -> None:
    """Tell Trainer callbacks (a job's progress file) that training is over and evaluation begins, for a fit
    that runs no Trainer. They get a bare state and no training arguments (`args` is None): callbacks that read
    them, such as early stopping, do not belong to such a fit."""
    from transformers import TrainerControl, TrainerState

    state, control = TrainerState(), TrainerControl()
    for callback in callbacks or []:
        for event in ("on_train_begin", "on_train_end"):
            hook = getattr(callback, event, None)
            if hook is not None:
                hook(None, state, control)


register_method(FrozenEmbedding())
