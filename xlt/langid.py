"""Language identification (py3langid, offline) with a guard for text that has no words."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .models.languages import normalise_language

UNDETERMINED = "und"


@dataclass(frozen=True)
class DetectedLanguage:
    code: str  # ISO 639-1 where one exists, "und" when there is nothing to go on
    confidence: float


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def letter_count(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def detect_language(text: str, max_chars: int = 2000) -> DetectedLanguage:
    """Most likely language of `text` (only its first `max_chars` characters are read)."""
    sample = text[:max_chars]
    if letter_count(sample) < 2:  # emoji, digits, punctuation: no language to speak of
        return DetectedLanguage(UNDETERMINED, 0.0)
    code, prob = _identifier().classify(sample)
    if code == "zxx":
        return DetectedLanguage(UNDETERMINED, float(prob))
    return DetectedLanguage(normalise_language(code), float(prob))
