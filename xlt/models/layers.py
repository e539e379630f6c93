"""Find and cut the transformer layer stack of any encoder (BERT, XLM-R, DeBERTa, ...)."""

from __future__ import annotations

from torch import nn

from ..errors import XltError


def _layer_stack(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    n_layers = getattr(encoder.config, "num_hidden_layers", None)
    for name, module in encoder.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return name, module
    raise XltError(f"cannot find the {n_layers} transformer layers of {type(encoder).__name__}")


def transformer_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers (every supported architecture keeps one ModuleList)."""
    return _layer_stack(encoder)[1]


def keep_bottom_layers(encoder: nn.Module, n: int) -> nn.Module:
    """Drop every transformer layer above the n-th, in place: the encoder then outputs layer n."""
    name, layers = _layer_stack(encoder)
    if not 1 <= n <= len(layers):
        raise XltError(f"encoder_layers={n} is out of range: the encoder has {len(layers)} layers")
    if n < len(layers):
        parent_name, _, attr = name.rpartition(".")
        parent = encoder.get_submodule(parent_name) if parent_name else encoder
        setattr(parent, attr, nn.ModuleList(list(layers)[:n]))
        encoder.config.num_hidden_layers = n
    return encoder
