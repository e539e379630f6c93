"""Zero-shot transfer: fine-tune on the source language(s) only, evaluate everywhere.

The baseline every other method is compared with (Pires et al., 2019; Wu & Dredze, 2019: a
multilingual encoder fine-tuned on English labels transfers to languages it never saw labels
in). Uses every default hook of the method contract.
"""

from __future__ import annotations

from .base import TransferMethod
from .registry import register_method


class ZeroShot(TransferMethod):
    name = "zero-shot"
    description = "Fine-tune on labelled source-language data only; apply the model to every target language."
    when_to_use = ("The baseline: no target-language data at all. Works best for languages close to the source "
                   "and well covered by the encoder's pre-training.")


register_method(ZeroShot())
