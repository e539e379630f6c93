"""`dictionary`: word-by-word translation with the MUSE bilingual dictionaries (offline, crude).

The MUSE dictionaries (Conneau et al., 2018; `<data>/muse/en-{lang}.tsv`, `english<TAB>target` per
line, 44 languages besides English, no sw or ur) pair English words with their translations, most frequent
first. English -> xx replaces each word by its first listed translation; xx -> en uses the
inverted dictionary (each target word's first English word); xx -> yy goes through English.
Words without an entry stay as they are; word order, inflection and multi-word expressions are
not handled, so records name its kind `dictionary`. `WordDictionary` is the word-level lookup
code-switching (`xlt.methods.code_switch`) uses.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import XltError
from .base import Translator
from .registry import register_translator

WORD = re.compile(r"\w+")
MUSE_DIR = "muse"


def muse_path(lang: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / MUSE_DIR / f"en-{lang}.tsv"


def dictionary_languages(data_dir: str | Path | None) -> list[str]:
    """Languages with an English MUSE dictionary under `data_dir`."""
    if data_dir is None or not (Path(data_dir) / MUSE_DIR).is_dir():
        return []
    return sorted(p.stem.split("-", 1)[1] for p in (Path(data_dir) / MUSE_DIR).glob("en-*.tsv"))


@lru_cache(maxsize=16)
def _load(path: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(english -> translations, translation -> english words), both in file order (most frequent first)."""
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                parts = line.split()
                if len(parts) != 2:
                    continue
            en, other = parts[0].strip().lower(), parts[1].strip().lower()
            forward.setdefault(en, []).append(other)
            backward.setdefault(other, []).append(en)
    return forward, backward


def _different(word: str, found: list[str]) -> list[str]:
    """`found` without `word` itself, unless that is all there is."""
    other = [f for f in found if f != word]
    return other or found


def match_case(template: str, word: str) -> str:
    """`word` with the capitalisation of `template` (all caps, or a capital first letter)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class WordDictionary:
    """Word-level lookups between English and the MUSE languages (other pairs through English)."""

    def __init__(self, data_dir: str | Path | None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None

    def has(self, lang: str) -> bool:
        return lang == "en" or (self.data_dir is not None and muse_path(lang, self.data_dir).is_file())

    def languages(self) -> list[str]:
        return dictionary_languages(self.data_dir)

    def _tables(self, lang: str):
        if not self.has(lang) or lang == "en":
            raise XltError(f"no MUSE dictionary for {lang!r}"
                           + (f" in {self.data_dir / MUSE_DIR}" if self.data_dir else " (XLT_DATA_DIR is not set)"))
        return _load(str(muse_path(lang, self.data_dir)))

    def candidates(self, word: str, src: str, tgt: str) -> list[str]:
        """Translations of one lower-case word, most frequent first (empty when there is none).

        MUSE lists many words as their own translation (`say -> say` before `say -> decir`); such identity
        entries are dropped when the word has other translations.
        """
        if src == tgt:
            return [word]
        if src == "en":
            found = self._tables(tgt)[0].get(word, [])
        else:
            english = _different(word, self._tables(src)[1].get(word, []))
            found = english if tgt == "en" else self._tables(tgt)[0].get(english[0], []) if english else []
        return _different(word, found)

    def translate_words(self, text: str, src: str, tgt: str) -> str:
        """Each word replaced by its first translation (unknown words kept), spacing and punctuation kept."""

        def swap(match: re.Match) -> str:
            word = match.group(0)
            found = self.candidates(word.lower(), src, tgt)
            return match_case(word, found[0]) if found else word

        return WORD.sub(swap, text)


class DictionaryTranslator(Translator):
    name = "dictionary"
    kind = "dictionary"
    description = "Word by word from the MUSE bilingual dictionaries (44 languages <-> English; offline, crude)."
    default_pivot = "en"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.words = WordDictionary(self.data_dir)

    def unavailable(self) -> str | None:
        if self.data_dir is None:
            return "the MUSE dictionaries are read from <XLT_DATA_DIR>/muse/en-{lang}.tsv; set XLT_DATA_DIR"
        if not self.words.languages():
            return f"no MUSE dictionaries (en-{{lang}}.tsv) in {self.data_dir / MUSE_DIR}"
        return None

    def can_translate(self, src: str, tgt: str) -> bool:
        return (src == "en" and tgt != "en" and self.words.has(tgt)) or (tgt == "en" and src != "en"
                                                                          and self.words.has(src))

    def serves(self) -> str:
        return f"en <-> {', '.join(self.words.languages())} (MUSE)"

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        return [self.words.translate_words(t, src, tgt) for t in texts]


register_translator(DictionaryTranslator)
