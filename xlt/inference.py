"""Batched class probabilities from a classifier: length-sorted, dynamically padded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def device_of(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def predict_proba(model, tokenizer, first: list[str], second: list[str] | None = None, *,
                  prefix: str = "", max_length: int = 128, batch_size: int = 64,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Probabilities `[n, num_labels]` for texts (or text pairs), in input order.

    Inputs are sorted by length so each batch pads to its own longest member, which on
    CPU is several times faster than padding everything to `max_length`.
    """
    n = len(first)
    if n == 0:
        return np.zeros((0, model.head.out_features), dtype=np.float32)
    was_training = model.training
    model.eval()
    enc = tokenizer([prefix + t for t in first], second, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    device = device_of(model)
    out = np.zeros((n, model.head.out_features), dtype=np.float32)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer.pad([{k: enc[k][i] for k in keys} for i in idx], return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**batch).logits.float()
        out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        if progress is not None:
            progress(len(idx))
    if was_training:
        model.train()
    return out
