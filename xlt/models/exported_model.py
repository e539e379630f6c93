"""The model class of an exported xlt classifier folder (see `xlt.models.export`).

This file is copied into every exported folder and loaded from there by transformers
(`trust_remote_code=True`), so it imports torch and transformers only, never xlt.

transformers has no standard sequence-classification head that reads a masked mean of the
encoder's tokens (BERT's reads the first token through a tanh pooler), which is what xlt's
classifiers were trained with; this class is that head: any `AutoModel` encoder, mean or
first-token pooling, an optional unit-length normalisation, then one `classifier` Linear.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class XltClassifierConfig(PreTrainedConfig):
    """`encoder`: the encoder's own config as a dict; `pooling`: "mean" or "cls"; `normalize`: unit-length
    pooled vectors before the classifier."""

    model_type = "xlt-classifier"

    def __init__(self, encoder: dict | None = None, pooling: str = "mean", normalize: bool = False, **kwargs):
        self.encoder = dict(encoder or {})
        self.pooling = pooling
        self.normalize = normalize
        super().__init__(**kwargs)

    def encoder_config(self):
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


class XltClassifierForSequenceClassification(PreTrainedModel):
    """Encoder -> masked mean (or first-token) pooling -> optional L2 normalisation -> Linear."""

    config_class = XltClassifierConfig
    base_model_prefix = "encoder"

    def __init__(self, config: XltClassifierConfig):
        super().__init__(config)
        encoder_config = config.encoder_config()
        try:
            self.encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        except TypeError:  # architectures without a pooler argument
            self.encoder = AutoModel.from_config(encoder_config)
        self.classifier = nn.Linear(encoder_config.hidden_size, config.num_labels)
        self.post_init()

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            if attention_mask is None:
                attention_mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1) if self.config.normalize else pooled

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.classifier(self.pool(hidden, attention_mask))
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
