"""Pretrained: evaluate a published sequence classifier as it is (no training), like an evaluation request.

Any `AutoModelForSequenceClassification` (an XNLI-trained mDeBERTa, a multilingual sentiment
XLM-R, a folder) answers the task after its `id2label` names are mapped onto the task's labels
by name. Its record sits on the leaderboard beside transfer runs, so published models and
xlt's methods compare on the same test files. What the model was trained on is not known to xlt:
by default `seen_languages` is empty and every evaluated language counts as a target. When its model
card says (e.g. a sentiment model trained on these very tweets, or an NLI model on all 15 XNLI
languages), `trained_languages` declares it: those languages are recorded as seen (flagged as seen
targets on the leaderboard, "the model saw labelled data in it" in Predict), so a published model's
in-language scores are not read as transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import TransferMethod
from .registry import register_method


@dataclass
class PretrainedOptions:
    label_map: str | None = field(default=None, metadata={
        "help": "model label -> task label, when the names do not say it: LABEL_0=negative,LABEL_1=neutral,..."})
    trained_languages: list[str] = field(default_factory=list, metadata={
        "help": "languages the model was trained on with labels, when its model card says (e.g. en,es): they "
                "count as seen, not as zero-shot transfer"})


class Pretrained(TransferMethod):
    name = "pretrained"
    options_cls = PretrainedOptions
    description = "Evaluate a published sequence classifier (Hub id or folder) as it is; no training."
    when_to_use = "Compare a model someone already trained (e.g. on MultiNLI/XNLI) with xlt's transfer runs."
    needs = ("a sequence classifier whose labels name the task's labels",)
    artifact_kind = "hub-classifier"
    trains = False

    def validate(self, ctx) -> None:
        from ..errors import XltError
        from ..models.hub_classifier import is_sequence_classifier, map_labels, parse_label_map, read_hub_config
        from ..models.registry import HUB_PREDICTORS, MODELS

        self.seen_languages(ctx)  # an unknown code in trained_languages fails before the model is fetched
        if ctx.experiment.model in MODELS:
            published = HUB_PREDICTORS.get(ctx.task.name)
            raise XltError(f"{ctx.experiment.model!r} is an encoder (see `xlt models`), not a trained classifier: "
                           "'pretrained' evaluates a published sequence classifier as it is. Name one with --model "
                           f"(a Hub id or a folder{', e.g. ' + published[0] if published else ''})")
        config = read_hub_config(ctx.experiment.model)
        if not is_sequence_classifier(config):
            raise XltError(f"{ctx.experiment.model!r} is not a sequence classifier; 'pretrained' evaluates "
                           "AutoModelForSequenceClassification models")
        map_labels(config.get("id2label") or {}, list(ctx.task.label_names), parse_label_map(ctx.options.label_map))

    def seen_languages(self, ctx) -> list[str]:
        from ..ranking.features import check_language

        return list(dict.fromkeys(check_language(code, ctx.task) for code in ctx.options.trained_languages))

    def run(self, ctx):
        from ..models.hub_classifier import HubClassifier, parse_label_map

        classifier = HubClassifier(ctx.experiment.model, ctx.task, parse_label_map(ctx.options.label_map),
                                   ctx.train.max_length)
        classifier.info.languages_trained = self.seen_languages(ctx)  # Predict: seen or zero-shot, by the card
        return classifier


register_method(Pretrained())
