"""Model merging: fine-tune one model per source language, then merge their weight changes into one model.

Task arithmetic (Ilharco et al., 2023, "Editing models with task arithmetic") treats a fine-tuning
as a vector in weight space, its *task vector* θ_i − θ_0, and builds new models by adding scaled
task vectors to the pre-trained weights θ_0: θ = θ_0 + λ · combine(θ_1 − θ_0, …, θ_n − θ_0). Two
cross-lingual uses of it, one per setting of this method:

- **one source, λ < 1** (`--source en --opt-scale 0.5`): the fine-tuned model moved back toward the
  pre-trained encoder, as WiSE-FT (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models")
  interpolates to keep the robustness that fine-tuning erodes under distribution shift. The shift
  here is the language: English fine-tuning is thought to wear away part of the encoder's
  multilingual alignment, and a shorter task vector keeps more of it. The head is kept as trained.
- **several sources** (`--source en,es,de`): one model per source language, each trained alone (the
  zero-shot run from that source: the same folder, so a transfer matrix's runs are reused), merged
  into one; the alternative to training on all of them at once (`multi-source`), with each
  language's model trainable apart. `combination=linear` averages the task vectors (a model soup,
  Wortsman et al., 2022); `combination=ties` is TIES-merging (Yadav et al., 2023): each task vector
  keeps its largest `density` fraction per weight matrix, each weight's sign is elected by total
  magnitude, and only the values agreeing with it are averaged. The members' heads (initialised
  alike: one seed) are averaged.

The heads were trained together with their encoders' changes, so they fit the fine-tuned features, not
the merged ones: `head=refit` fits the head again, as a logistic regression (frozen-embedding's, C = 1)
on the merged encoder's features of the members' training rows, the encoder left as merged (the linear
probe of LP-FT, Kumar et al., 2022, on the merged encoder).

The method changes the *fit* hook only: the members train (or resume) in their zero-shot folders,
then their encoders are merged weight by weight with peft's merging functions (`task_arithmetic`,
`ties`): LoRA members are folded into their base weights first, so the merge is exact, not an SVD
approximation of the adapters. The saved model is an ordinary classifier with a full encoder
(`finetune: full`), served by Predict and exported like any other. Training settings are the
zero-shot runs'.

When to use: labelled data in several source languages whose models must be trainable apart (one
per language, merged later), or a single source model that transfers worse than its in-language
score suggests. Cheap once the members exist: the merge is seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..errors import XltError
from .base import TransferMethod, capped, folded, zero_shot_run_finished, zero_shot_run_folder
from .registry import register_method

COMBINATIONS = ("linear", "ties")
HEADS = ("average", "refit")


@dataclass
class ModelMergingOptions:
    combination: str = field(default="linear", metadata={
        "help": "how the members' task vectors combine: linear (their mean) or ties (TIES-merging: trim to "
                "`density`, elect signs, average the agreeing values)", "choices": COMBINATIONS})
    scale: float = field(default=1.0, metadata={
        "help": "λ: the merged task vector's weight on the pre-trained encoder (1: the mean itself; below 1: "
                "toward the pre-trained weights, as WiSE-FT)"})
    density: float = field(default=0.2, metadata={
        "help": "combination=ties: the fraction of each task vector's values kept per weight matrix"})
    head: str = field(default="average", metadata={
        "help": "average: the members' heads averaged (one member: its own); refit: a logistic regression on the "
                "merged encoder's features of the members' training rows (the encoder stays as merged)",
        "choices": HEADS})


class ModelMerging(TransferMethod):
    name = "model-merging"
    options_cls = ModelMergingOptions
    description = ("One model per source language (each the zero-shot run from it), merged weight by weight: "
                   "task vectors averaged (linear) or TIES-merged, scaled by λ.")
    when_to_use = ("Labelled data in several languages whose models must train apart; or one source model moved "
                   "back toward the pre-trained encoder (scale < 1) to keep its multilingual alignment.")
    needs = ("labelled data in each source language",)

    def validate(self, ctx) -> None:
        opts = ctx.options
        if opts.combination not in COMBINATIONS:
            raise XltError(f"combination must be one of {COMBINATIONS}, got {opts.combination!r}")
        if not (math.isfinite(opts.scale) and 0 < opts.scale <= 4):
            raise XltError(f"scale must be in (0, 4], got {opts.scale}")
        if not (math.isfinite(opts.density) and 0 < opts.density <= 1):
            raise XltError(f"density must be in (0, 1], got {opts.density}")
        if opts.combination != "ties" and opts.density != ModelMergingOptions.density:
            raise XltError("density trims task vectors for combination=ties only; leave it out with "
                           f"combination={opts.combination}")
        if opts.head not in HEADS:
            raise XltError(f"head must be one of {HEADS}, got {opts.head!r}")
        if len(ctx.experiment.source_languages) == 1 and opts.scale == 1.0 and opts.head == "average" and (
                opts.combination == "linear" or opts.density == 1.0):
            raise XltError("one source merged at scale 1.0 with nothing trimmed is the zero-shot model itself: give "
                           "several sources (--source en,es,de), a scale below 1 (--opt-scale 0.5), or "
                           "combination=ties with density below 1, or head=refit")

    def member_context(self, ctx, lang: str):
        """The zero-shot run from `lang` alone: a member's settings (its folder is `zero_shot_run_folder`)."""
        return replace(ctx, experiment=replace(ctx.experiment, source_languages=[lang]))

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """Each member's rows (each capped by `max_train_samples` on its own), every epoch."""
        return float(sum(capped(ctx, rows) for rows in source_rows.values()) * ctx.train.epochs)

    def remaining_train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """The members whose zero-shot runs are not trained yet."""
        todo = {lang: rows for lang, rows in source_rows.items()
                if not zero_shot_run_finished(self.member_context(ctx, lang))}
        return self.train_size(ctx, todo)

    def run(self, ctx):
        """No training set of its own: each member reads its source's (`fit`)."""
        return self.fit(ctx, None)

    def fit(self, ctx, train_ds):
        from ..training import train_classifier

        members, rows = [], []
        for lang in ctx.experiment.source_languages:
            member = self.member_context(ctx, lang)
            data = TransferMethod.training_data(self, member)  # exactly the zero-shot run's data from `lang`
            members.append(train_classifier(ctx.task, ctx.model_spec, data, ctx.train, zero_shot_run_folder(member),
                                            callbacks=ctx.callbacks, languages=[lang]))
            rows.append(data)
        merged = merge_members(members, ctx, self.seen_languages(ctx))
        if ctx.options.head == "refit":
            import datasets

            from ..training import fit_linear_probe

            probe = fit_linear_probe(merged.model, merged.tokenizer, ctx.task, datasets.concatenate_datasets(rows),
                                     ctx.model_spec.text_prefix, ctx.train.max_length, ctx.train.eval_batch_size)
            merged.stats.update(probe)
        return merged


def merge_task_vectors(base: dict, members: list[dict], combination: str, scale: float, density: float) -> dict:
    """The merged weights θ_0 + λ·combine(θ_i − θ_0) of every floating-point tensor of `base` (a state dict) that a
    member changed, by name; `members` are the members' state dicts, named as `base`."""
    import warnings

    import torch
    from peft.utils.merge_utils import task_arithmetic, ties

    missing = sorted({name for name, weight in base.items() if weight.is_floating_point()
                      for state in members if name not in state})
    if missing:  # a member whose weights are not named as the base's would leave them unmerged, silently
        raise XltError(f"the members' encoders do not name their weights as the pre-trained encoder does "
                       f"({len(missing)} missing, e.g. {missing[0]!r}); cannot merge them")
    n = len(members)
    merged = {}
    with torch.no_grad():
        for name, weight in base.items():
            if not weight.is_floating_point():
                continue
            vectors = [state[name].to(weight.device, torch.float32) - weight.float() for state in members]
            if not any(bool(v.any()) for v in vectors):  # untouched by every member (LoRA leaves most)
                continue
            # linear: λ·mean (weights λ/n, summed); ties: λ · the disjoint mean of the trimmed vectors
            weights = torch.full((n,), scale / n if combination == "linear" else scale, device=weight.device)
            with warnings.catch_warnings():  # density 1 (no trimming) is a setting, not a mistake
                warnings.simplefilter("ignore", UserWarning)
                mixed = task_arithmetic(vectors, weights) if combination == "linear" else ties(
                    vectors, weights, density, "total")
            merged[name] = (weight.float() + mixed).to(weight.dtype)
    if not merged:
        raise XltError("no member changed any weight of the pre-trained encoder: nothing to merge")
    return merged


def merge_members(members: list, ctx, languages: list[str]):
    """One classifier: the merged task vectors on the pre-trained encoder, the members' mean head."""
    import time

    import torch

    from ..models.classifier import SequenceClassifier
    from ..models.classifier_artifact import TrainedClassifier
    from ..models.layers import keep_bottom_layers
    from ..models.loading import load_encoder
    from ..training import classifier_info

    opts, spec = ctx.options, ctx.model_spec
    started = time.perf_counter()
    base = load_encoder(spec)
    if ctx.train.encoder_layers:
        keep_bottom_layers(base, ctx.train.encoder_layers)
    device = next(members[0].model.parameters()).device
    base.to(device)
    merged = merge_task_vectors(base.state_dict(), [_encoder_state(m) for m in members], opts.combination,
                                opts.scale, opts.density)
    first = members[0].model
    with torch.no_grad():
        base.load_state_dict(merged, strict=False)
        model = SequenceClassifier(base, first.head.out_features, pooling=first.pooling, normalize=first.normalize)
        model.head.weight.copy_(torch.stack([m.model.head.weight.float() for m in members]).mean(0))
        model.head.bias.copy_(torch.stack([m.model.head.bias.float() for m in members]).mean(0))
    model.to(device).eval()
    model.requires_grad_(False)
    seconds = time.perf_counter() - started
    stats = _merged_stats(members, ctx.experiment.source_languages, seconds, len(merged))
    info = classifier_info(ctx.task, spec, ctx.train, languages, first.normalize, finetune="full")
    return TrainedClassifier(model=model, tokenizer=members[0].tokenizer, info=info, stats=stats)


def _encoder_state(member) -> dict:
    """The member's encoder weights with any LoRA adapter folded in (names as the base encoder's)."""
    member.model.encoder = encoder = folded(member.model.encoder)
    return {k: v.detach() for k, v in encoder.state_dict().items()}


def _merged_stats(members: list, sources: list[str], merge_seconds: float, changed: int) -> dict:
    """The record's training statistics: the members' together (their training is this run's cost), each
    member's own beside them."""
    stats = [m.stats for m in members]
    precisions = sorted({s.get("precision") for s in stats}, key=str)
    seconds = sum(s.get("train_seconds", 0.0) for s in stats) + merge_seconds
    examples = sum(s.get("train_examples", 0) for s in stats)
    epoch_examples = sum((s.get("train_examples_per_second") or 0.0) * s.get("train_seconds", 0.0) for s in stats)
    return {
        "precision": precisions[0] if len(precisions) == 1 else "+".join(map(str, precisions)),
        "train_seconds": round(seconds, 2),
        "train_seconds_this_run": round(sum(s.get("train_seconds_this_run", 0.0) for s in stats) + merge_seconds, 2),
        **({"train_seconds_partial": True} if any(s.get("train_seconds_partial") for s in stats) else {}),
        "train_examples": examples,
        "train_examples_per_second": round(epoch_examples / seconds, 3) if seconds > 0 else None,
        "train_steps": sum(s.get("train_steps", 0) for s in stats),
        "trainable_parameters": sum(s.get("trainable_parameters") or 0 for s in stats),  # the members' together
        "merge_seconds": round(merge_seconds, 2),
        "merged_tensors": changed,
        "members": [{"source": lang, **{k: s.get(k) for k in (
            "train_seconds", "train_examples", "train_steps", "final_train_loss", "resumed_from_checkpoint")}}
            for lang, s in zip(sources, stats)],
        "warnings": [w for s in stats for w in s.get("warnings", [])],
    }


register_method(ModelMerging())
