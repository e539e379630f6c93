"""The `classifier` artifact kind: an encoder (full, or base + LoRA adapter) + a linear head."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import ArtifactKind, register_artifact_kind
from .loading import ClassifierInfo


@dataclass
class TrainedClassifier:
    """A fine-tuned `SequenceClassifier` with what evaluation, saving and serving need to know about it."""

    model: object  # SequenceClassifier
    tokenizer: object
    info: ClassifierInfo
    stats: dict = field(default_factory=dict)

    def predict_proba(self, first, second=None, lang=None, batch_size: int = 64, progress=None):
        """Class probabilities `[n, labels]`; the language does not change a plain classifier."""
        from ..inference import predict_proba

        return predict_proba(self.model, self.tokenizer, first, second, prefix=self.info.text_prefix,
                             max_length=self.info.max_length, batch_size=batch_size, progress=progress)

    @contextlib.contextmanager
    def inference_mode(self):
        """LoRA adapters folded into the weights while evaluating: fewer matmuls per token."""
        encoder = self.model.encoder
        merge = self.info.finetune == "lora" and hasattr(encoder, "merge_adapter")
        if merge:
            encoder.merge_adapter()
        try:
            yield self
        finally:
            if merge:
                encoder.unmerge_adapter()

    def save(self, folder: str | Path) -> Path:
        from .loading import save_classifier

        return save_classifier(self.model, self.tokenizer, self.info, folder)


def load(folder: Path) -> TrainedClassifier:
    from .loading import load_classifier

    model, tokenizer, info = load_classifier(folder)
    return TrainedClassifier(model=model, tokenizer=tokenizer, info=info)


register_artifact_kind(ArtifactKind("classifier", load,
                                    "encoder (full, LoRA adapter, or the frozen base) + linear head"))
