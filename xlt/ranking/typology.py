"""Typological distances between languages from URIEL, as `lang2vec` ships it inside its wheel (offline).

Five distances per pair, each the cosine distance between the two languages' URIEL vectors: syntax, phonology
and phoneme inventory (the k-NN-completed sets, so no value is missing), family (genetic) and geography.
lang2vec 1.1.2 has no `distance()`; later versions compute theirs from these same vectors. Importing lang2vec
takes seconds, so distances are cached on disk (`XLT_CACHE/ranking/`) and in memory, and lang2vec is imported
only when a language is missing from the cache.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
from importlib import metadata
from pathlib import Path

from ..atomic import write_atomic
from ..errors import XltError
from ..settings import cache_dir

DISTANCES = ("syntax", "phonology", "inventory", "genetic", "geographic")
FEATURE_SETS = {"syntax": "syntax_knn", "phonology": "phonology_knn", "inventory": "inventory_knn",
                "genetic": "fam", "geographic": "geo"}
# ISO 639-1 codes whose lang2vec default is a macro-language without a URIEL family vector: its main member
URIEL_CODES = {"ar": "arb", "az": "azj", "fa": "pes", "mn": "khk", "ms": "zsm", "om": "gaz", "sq": "als",
               "sw": "swh", "uz": "uzn", "zh": "cmn"}
INSTALL = "pip install lang2vec==1.1.2 'setuptools<81'"

_lock = threading.Lock()
_memory: dict[str, dict] = {}


def lang2vec_version() -> str | None:
    try:
        return metadata.version("lang2vec")
    except metadata.PackageNotFoundError:
        return None


def typology_available() -> str | None:
    """None when URIEL distances can be computed, else the reason (one line, with the fix)."""
    if lang2vec_version() is None:
        return f"lang2vec is not installed, so typological distances are left out ({INSTALL})"
    return None


def _cache_file() -> Path:
    return cache_dir() / "ranking" / f"uriel-lang2vec-{lang2vec_version()}.json"


def _load_cache() -> dict:
    key = str(_cache_file())
    if key not in _memory:
        try:
            data = json.loads(Path(key).read_text(encoding="utf-8"))
            if not isinstance(data.get("languages"), list) or not isinstance(data.get("distances"), dict):
                raise ValueError("unexpected layout")
        except (OSError, ValueError):
            data = {"languages": [], "distances": {}}
        _memory[key] = data
    return _memory[key]


def _save_cache(data: dict) -> None:
    path = _cache_file()
    _memory[str(path)] = data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data))
    except OSError:  # a read-only cache only costs the next process the computation
        pass


def _pair_key(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def uriel_distances(languages) -> dict[tuple[str, str], dict[str, float]]:
    """{(a, b): {distance name: value}} for every ordered pair of distinct `languages` (ISO 639-1 codes, or
    ISO 639-3); NaN where URIEL lacks one of the two. Raises `XltError` when lang2vec is missing."""
    reason = typology_available()
    if reason:
        raise XltError(reason)
    languages = sorted(set(languages))
    with _lock:
        data = _load_cache()
        missing = [lang for lang in languages if lang not in data["languages"]]
        if missing:
            known = sorted(set(data["languages"]) | set(missing))
            vectors = _uriel_vectors(known)
            distances = {}
            for i, a in enumerate(known):
                for b in known[i + 1:]:
                    distances[_pair_key(a, b)] = [_cosine_distance(vectors[name].get(a), vectors[name].get(b))
                                                  for name in DISTANCES]
            data = {"languages": known, "distances": distances}
            _save_cache(data)
    out = {}
    for a in languages:
        for b in languages:
            if a != b:
                values = data["distances"].get(_pair_key(a, b)) or [None] * len(DISTANCES)
                out[(a, b)] = {name: float("nan") if v is None else float(v) for name, v in zip(DISTANCES, values)}
    return out


def _uriel_vectors(languages: list[str]) -> dict[str, dict[str, list[float]]]:
    """{distance name: {language: vector}} for the languages URIEL has (others left out)."""
    import numpy as np

    l2v = import_lang2vec()
    codes = {lang: URIEL_CODES.get(lang) or l2v.LETTER_CODES.get(lang, lang) for lang in languages}
    data_dir = Path(l2v.__file__).resolve().parent / "data"
    out = {}
    for name, feature_set in FEATURE_SETS.items():
        filename = l2v.FEATURE_SETS_DICT[feature_set][0]
        with np.load(data_dir / filename) as db:  # the language list only: the arrays stay unread
            present = {str(code) for code in db["langs"]}
        wanted = sorted({code for code in codes.values() if code in present})
        features = l2v.get_features(wanted, feature_set) if wanted else {}
        out[name] = {lang: [float(x) for x in features[code]] for lang, code in codes.items()
                     if code in features and all(x != "--" for x in features[code])}
    return out


def import_lang2vec():
    """`lang2vec.lang2vec`, the package's module. Its wheel also installs a script `bin/lang2vec.py`, which a plain
    import finds first whenever a console script (`xlt`, `pytest`) put `bin/` at the head of `sys.path`."""
    import sys

    loaded = sys.modules.get("lang2vec.lang2vec")
    if loaded is not None:  # imported once already (the package's, never the script: that is no package)
        return loaded
    try:
        root = str(Path(metadata.distribution("lang2vec").locate_file("")).resolve())
    except metadata.PackageNotFoundError:
        raise XltError(f"lang2vec is not installed; {INSTALL}") from None
    wrong = sys.modules.get("lang2vec")
    if wrong is not None and not hasattr(wrong, "__path__"):
        del sys.modules["lang2vec"]
    sys.path.insert(0, root)
    try:
        with warnings.catch_warnings():  # lang2vec imports pkg_resources, deprecated in setuptools
            warnings.simplefilter("ignore")
            import lang2vec.lang2vec as l2v
    except Exception as exc:  # ImportError, or pkg_resources missing (setuptools 81 and later)
        raise XltError(f"lang2vec could not be imported ({type(exc).__name__}: {exc}); {INSTALL}") from None
    finally:
        sys.path.remove(root)
    return l2v


def _cosine_distance(a: list[float] | None, b: list[float] | None) -> float | None:
    if a is None or b is None:
        return None
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return None if norm == 0 else max(0.0, 1.0 - dot / norm)
