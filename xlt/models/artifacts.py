"""Saved-model kinds: how each kind of trained artifact is saved, loaded and served.

Every trained method returns an artifact: an object with `info` (a `ClassifierInfo`),
`predict_proba(first, second=None, lang=None, batch_size=64, progress=None)` and
`save(folder)`. `lang` is the inputs' language: one code for a whole batch (evaluation) or one
per input (Predict passes the detected language of each text); artifacts that do not depend on
the language ignore it. An artifact whose prediction hook depends on the language may say what it did
with one in Predict: `language_note(lang) -> str | None`. A saved folder names its kind in `xlt_classifier.json`, so
`load_artifact` finds the loader after a restart. Kinds register lazily (name -> module).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import XltError
from ..registry import Registry


@dataclass(frozen=True)
class ArtifactKind:
    """`load(folder) -> artifact` for one saved-model kind."""

    name: str
    load: Callable[[Path], object]
    description: str = ""


ARTIFACT_KINDS: Registry[ArtifactKind] = Registry("artifact kind")
ARTIFACT_KINDS.register_lazy("classifier", "xlt.models.classifier_artifact")
ARTIFACT_KINDS.register_lazy("hub-classifier", "xlt.models.hub_classifier")
ARTIFACT_KINDS.register_lazy("translate-test", "xlt.methods.translate_test")
ARTIFACT_KINDS.register_lazy("embedding-alignment", "xlt.methods.embedding_alignment")


def register_artifact_kind(kind: ArtifactKind) -> ArtifactKind:
    return ARTIFACT_KINDS.register(kind.name, kind)


def load_artifact(folder: str | Path):
    """Load any saved artifact folder (its kind is read from `xlt_classifier.json`)."""
    from ..methods import load_plugins
    from .loading import read_classifier_info

    info = read_classifier_info(folder)
    load_plugins()
    if info.kind not in ARTIFACT_KINDS:
        raise XltError(f"{folder} holds a model of kind {info.kind!r}, which this xlt does not know "
                       f"(known: {', '.join(ARTIFACT_KINDS.names())}); a newer xlt or a plugin may")
    return ARTIFACT_KINDS.get(info.kind).load(Path(folder))


@contextlib.contextmanager
def inference_mode(artifact):
    """While evaluating many batches: the artifact's fastest form (e.g. LoRA adapters merged)."""
    enter = getattr(artifact, "inference_mode", None)
    if enter is None:
        yield artifact
        return
    with enter():
        yield artifact


class WrappedArtifact:
    """An artifact whose prediction hook wraps another's (translate-test, embedding-alignment): it shares the
    inner artifact's info, stats, model and tokenizer, and its fastest form while evaluating."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.info, self.stats = inner.info, inner.stats
        self.model, self.tokenizer = getattr(inner, "model", None), getattr(inner, "tokenizer", None)

    @contextlib.contextmanager
    def inference_mode(self):
        with inference_mode(self.inner):
            yield self
