"""Dynamic int8 quantisation of a classifier for CPU prediction (`XLT_INT8`).

Weights of the selected Linear layers are stored as int8 (one scale per output channel);
activations are quantised on the fly, per batch. Layers that narrow their input
(`in_features > out_features`: the feed-forward down-projections and the classification head)
stay in float32: the down-projections read the GELU activations, whose outliers int8 cannot
hold; quantising them too moves sentiment macro-F1 by several points
(`benchmarks/predict_speed.py` measures both).
"""

from __future__ import annotations

import os
import warnings

INT8_ENV = "XLT_INT8"


def int8_default() -> bool:
    """Whether predictors quantise to int8 unless told otherwise: `XLT_INT8` (1/0), off when unset.

    Off by measurement (benchmarks/README.md): a faster path is the default only where it moves the
    sentiment test macro-F1 by less than half a point. It did for the English-only predictor (-0.26)
    but not for the multi-source default (-0.60), so Predict serves float32 unless `XLT_INT8=1`, and
    the measured scores it shows are those of the model it serves. `xlt evaluate --int8` scores the
    int8 form.
    """
    return os.environ.get(INT8_ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


def int8_layers(model, every_linear: bool = False) -> list[str]:
    """Names of the Linear layers `quantize_int8` converts (all of them with `every_linear`)."""
    from torch import nn

    return [name for name, module in model.named_modules()
            if type(module) is nn.Linear and (every_linear or module.in_features <= module.out_features)]


def quantize_int8(model, every_linear: bool = False) -> bool:
    """Quantise `model`'s Linear layers to dynamic int8 in place; False (nothing done) for a model off the
    CPU or an artifact without a torch model (e.g. translate-test).

    Args:
        model: a classifier on the CPU (xlt's `SequenceClassifier` or any transformers model), or None.
        every_linear: also the narrowing layers (for measuring what keeping them costs).
    """
    import torch

    from ..inference import on_cpu

    if not on_cpu(model):
        return False  # int8 dynamic kernels are CPU kernels; a GPU has faster paths of its own
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name in int8_layers(model, every_linear)}
    with warnings.catch_warnings():  # torch announces a move of this API to torchao; it still works here
        warnings.simplefilter("ignore")
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return True
