"""A sequence classifier: any encoder + pooling + a linear head (full or LoRA fine-tuning)."""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput


class SequenceClassifier(nn.Module):
    """Encoder -> mean/CLS pooling -> dropout -> linear head.

    Mean pooling matches how e5 was trained; the head is a plain `nn.Linear` saved on its
    own next to a LoRA adapter or a full encoder.
    """

    # its loss is the batch mean and ignores `num_items_in_batch`: the Trainer must divide it by the gradient
    # accumulation steps itself (a forward taking **kwargs would otherwise be trusted to have done so)
    accepts_loss_kwargs = False

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str = "mean", dropout: float = 0.1,
                 normalize: bool = False, loss: str = "cross-entropy", temperature: float = 0.05):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize  # unit-length pooled vectors (the embedding geometry e5 was trained in)
        self.loss = loss
        self.temperature = temperature
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def config(self):  # Trainer and peft look for `.config`
        return self.encoder.config

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **_):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        pooled = self.pool(hidden, attention_mask)
        logits = self.head(self.dropout(pooled))
        loss = None
        if labels is not None:
            if self.loss == "supcon":
                loss = supervised_contrastive_loss(pooled.float(), labels, self.temperature)
            else:
                loss = nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def supervised_contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al., 2020) over one batch of unit vectors: pull same-label pairs together.

    For each anchor with at least one same-label partner: minus the mean log-probability of
    its partners under a softmax over all other batch members of cosine / temperature.
    """
    sims = embeddings @ embeddings.T / temperature
    self_mask = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    sims = sims.masked_fill(self_mask, float("-inf"))
    log_prob = sims - torch.logsumexp(sims, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = positives.sum(1)
    has_pos = n_pos > 0
    if not has_pos.any():  # a batch of all-different labels teaches nothing; keep the graph, add zero
        return embeddings.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positives, 0.0).sum(1)[has_pos] / n_pos[has_pos])
    return per_anchor.mean()
