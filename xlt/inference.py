"""Batched class probabilities from a classifier: length-sorted, dynamically padded."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch


def device_of(model) -> torch.device:
    """Where the model's inputs go: its parameters' device, the CPU for a model outside torch (ONNX Runtime)."""
    return next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")


def on_cpu(model) -> bool:
    """Whether `model` is a torch module with every parameter on the CPU (what the CPU-only paths need)."""
    return isinstance(model, torch.nn.Module) and all(p.device.type == "cpu" for p in model.parameters())


@contextlib.contextmanager
def _eval_mode(model):
    """Dropout off while predicting, back to training after. A model already in eval mode (a loaded predictor)
    is left alone: walking its few hundred modules twice costs ~2 ms, a tenth of a one-sentence answer."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def _length_sorted_batches(model, tokenizer, first, second, prefix, max_length, batch_size):
    """Yield (row indices, padded batch on the model's device), shortest inputs first.

    Sorting by length lets each batch pad to its own longest member, which on CPU is
    several times faster than padding everything to `max_length`.
    """
    enc = tokenizer([prefix + t for t in first], second, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    device = device_of(model)
    for start in range(0, len(first), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer.pad([{k: enc[k][i] for k in keys} for i in idx], return_tensors="pt")
        yield idx, {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def predict_proba(model, tokenizer, first: list[str], second: list[str] | None = None, *,
                  prefix: str = "", max_length: int = 128, batch_size: int = 64,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Probabilities `[n, num_labels]` for texts (or text pairs), in input order."""
    head = getattr(model, "head", None)
    # xlt's classifier, its ONNX Runtime form, or any HF one
    width = head.out_features if head is not None else getattr(model, "num_labels", None) or model.config.num_labels
    out = np.zeros((len(first), width), dtype=np.float32)
    with _eval_mode(model):
        for idx, batch in _length_sorted_batches(model, tokenizer, first, second, prefix, max_length, batch_size):
            out[idx] = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
            if progress is not None:
                progress(len(idx))
    return out


@torch.inference_mode()
def pooled_features(model, tokenizer, first: list[str], second: list[str] | None = None, *,
                    prefix: str = "", max_length: int = 128, batch_size: int = 64,
                    layers: list[int] | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The pooled encoder outputs `[n, hidden]` the classification head sees (no dropout).

    With `layers`, the pooled outputs of those hidden states (0 = the embeddings, 1 = the first
    layer's output, ...) side by side instead: `[n, hidden * len(layers)]`.
    """
    width = model.encoder.config.hidden_size * (len(layers) if layers else 1)
    out = np.zeros((len(first), width), dtype=np.float32)
    with _eval_mode(model):
        for idx, batch in _length_sorted_batches(model, tokenizer, first, second, prefix, max_length, batch_size):
            kwargs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            result = model.encoder(**kwargs, output_hidden_states=bool(layers))
            states = [result.hidden_states[i] for i in layers] if layers else [result.last_hidden_state]
            pooled = [model.pool(hidden, batch["attention_mask"]) for hidden in states]
            out[idx] = torch.cat(pooled, dim=-1).float().cpu().numpy()
            if progress is not None:
                progress(len(idx))
    return out
