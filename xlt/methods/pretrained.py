"""Pretrained: evaluate a published sequence classifier as it is (no training), like an evaluation request.

Any `AutoModelForSequenceClassification` (an XNLI-trained mDeBERTa, a multilingual sentiment
XLM-R, a folder) answers the task after its `id2label` names are mapped onto the task's labels
by name. Its record sits on the leaderboard beside transfer runs, so published models and
xlt's methods compare on the same test files. What the model was trained on is not known
(`seen_languages` is empty: every evaluated language counts as a target).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import TransferMethod
from .registry import register_method


@dataclass
class PretrainedOptions:
    label_map: str | None = field(default=None, metadata={
        "help": "model label -> task label, when the names do not say it: LABEL_0=negative,LABEL_1=neutral,..."})


class Pretrained(TransferMethod):
    name = "pretrained"
    options_cls = PretrainedOptions
    description = "Evaluate a published sequence classifier (Hub id or folder) as it is; no training."
    when_to_use = "Compare a model someone already trained (e.g. on MultiNLI/XNLI) with xlt's transfer runs."
    needs = ("a sequence classifier whose labels name the task's labels",)
    artifact_kind = "hub-classifier"
    trains = False

    def validate(self, ctx) -> None:
        from ..models.hub_classifier import is_sequence_classifier, map_labels, parse_label_map, read_hub_config

        config = read_hub_config(ctx.experiment.model)
        if not is_sequence_classifier(config):
            from ..errors import XltError

            raise XltError(f"{ctx.experiment.model!r} is not a sequence classifier; 'pretrained' evaluates "
                           "AutoModelForSequenceClassification models")
        map_labels(config.get("id2label") or {}, list(ctx.task.label_names), parse_label_map(ctx.options.label_map))

    def seen_languages(self, ctx) -> list[str]:
        return []

    def run(self, ctx):
        from ..models.hub_classifier import HubClassifier, parse_label_map

        return HubClassifier(ctx.experiment.model, ctx.task, parse_label_map(ctx.options.label_map),
                             ctx.train.max_length)


register_method(Pretrained())
