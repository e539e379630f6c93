"""Writing systems: the one a language's text is really written in (measured on the data), or the usual one.

Measured beats listed: the tweet data's Hindi is mostly romanised (Latin), not Devanagari.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

# The usual script of languages not written in Latin (ISO 639-1); everything else defaults to Latin.
SCRIPTS = {
    **dict.fromkeys("ar fa ur ps sd ug ckb".split(), "Arabic"),
    **dict.fromkeys("ru uk bg be mk sr kk ky mn tg tt ba cv ce os".split(), "Cyrillic"),
    **dict.fromkeys("hi mr ne sa bh mai new".split(), "Devanagari"),
    **dict.fromkeys("he yi".split(), "Hebrew"),
    **dict.fromkeys("bn as".split(), "Bengali"),
    "zh": "Han", "ja": "Japanese", "ko": "Hangul", "el": "Greek", "th": "Thai", "lo": "Lao", "km": "Khmer",
    "my": "Myanmar", "ka": "Georgian", "hy": "Armenian", "am": "Ethiopic", "ti": "Ethiopic", "pa": "Gurmukhi",
    "gu": "Gujarati", "or": "Oriya", "ta": "Tamil", "te": "Telugu", "kn": "Kannada", "ml": "Malayalam",
    "si": "Sinhala", "bo": "Tibetan", "dv": "Thaana",
}
# First word of a letter's Unicode name -> script (names not listed are used as they are, capitalised)
_NAMES = {"CJK": "Han", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Hangul"}


def usual_script(lang: str) -> str:
    return SCRIPTS.get(lang, "Latin")


def dominant_script(texts) -> str | None:
    """The script most of the letters in `texts` are written in (None without letters). Any kana makes
    Japanese: Japanese text mixes kana with Han characters."""
    counts: Counter = Counter()
    for text in texts:
        for ch in text:
            if unicodedata.category(ch).startswith("L"):
                first = unicodedata.name(ch, "UNKNOWN").split()[0]
                counts[_NAMES.get(first, first.capitalize())] += 1
    if not counts:
        return None
    if counts.get("Japanese", 0) > 0.05 * sum(counts.values()):
        return "Japanese"
    return counts.most_common(1)[0][0]
