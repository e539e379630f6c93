"""Features of a (source, target) language pair, for ranking which source to train on.

- URIEL distances (syntax, phonology, inventory, genetic, geographic), from lang2vec (see `typology`);
- script match: the two languages' texts are written in the same script (measured on the task's data);
- subword overlap: Jaccard overlap of the subword types the model's tokenizer produces on a sample of each
  language's own task data (its training split, else its evaluation split);
- source size: log10 of the rows of the source's training split;
- the encoder's pre-training coverage of the source and of the target.

What a language's data gives (script, rows, subword types) is cached per language on disk, so only a new
language or changed data file pays for the tokenizer and the read. A value that cannot be had (no data for
the language, no lang2vec) is NaN and the notes say why.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..atomic import write_atomic
from ..errors import XltError
from ..settings import cache_dir
from ..tasks import TaskSpec
from .scripts import SCRIPTS, dominant_script, usual_script
from .typology import DISTANCES, URIEL_CODES, typology_available, uriel_distances

FEATURES = (*DISTANCES, "script_match", "subword_overlap", "source_size", "source_covered", "target_covered")
LABELS = {"syntax": "syntax distance", "phonology": "phonology distance", "inventory": "inventory distance",
          "genetic": "genetic distance", "geographic": "geographic distance", "script_match": "same script",
          "subword_overlap": "subword overlap", "source_size": "source rows (log10)",
          "source_covered": "source in pre-training", "target_covered": "target in pre-training"}
TYPOLOGICAL = ("syntax", "phonology", "inventory")
SAMPLE_ROWS = 1000
PROFILE_VERSION = 1


@dataclass(frozen=True)
class LanguageProfile:
    """What a language's task data says: its script, the rows of its training split, the subword types of a
    sample (None: no data for it)."""

    lang: str
    script: str
    script_measured: bool
    rows: int | None = None
    types: frozenset | None = None


@dataclass
class PairFeatures:
    """`frame`: one row per ordered (source, target) pair of distinct languages, one column per feature."""

    frame: pd.DataFrame
    profiles: dict[str, LanguageProfile] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def known_languages(task: TaskSpec | None = None) -> set[str]:
    from ..models.languages import CC100, MBERT, NAMES

    return (set(NAMES) - {"und"}) | CC100 | MBERT | set(SCRIPTS) | set(URIEL_CODES) | \
        set(task.languages if task else ())


def check_language(code: str, task: TaskSpec | None = None) -> str:
    """`code` normalised (lower case), or `XltError` when no table here knows it."""
    lang = (code or "").strip().lower()
    if lang not in known_languages(task):
        raise XltError(f"unknown language code {code!r}: give an ISO 639-1 code such as sw, de or zh")
    return lang


def typological_distance(frame: pd.DataFrame) -> pd.Series:
    """Mean of the syntax, phonology and inventory distances (NaN when URIEL has none of them)."""
    return frame[list(TYPOLOGICAL)].mean(axis=1, skipna=True)


def _data_signature(task: TaskSpec, lang: str, split: str, data_dir: Path | None) -> str:
    from ..data import local_split_path

    if data_dir is None:
        return f"hub:{task.hub_dataset}:{task.hub_config(lang)}:{split}"
    parts = []
    for part in split.split("+"):
        path = local_split_path(task, lang, part, Path(data_dir))
        stat = path.stat() if path.is_file() else None
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{path}:missing")
    return ";".join(parts)


def _profile_file(task: TaskSpec, lang: str, model: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:80] or "model"
    return cache_dir() / "ranking" / "profiles" / task.name / safe / f"{lang}.json"


def language_profile(task: TaskSpec, lang: str, model: str, tokenizer: Callable[[], object],
                     data_dir: str | Path | None = None, sample_rows: int = SAMPLE_ROWS) -> LanguageProfile:
    """The profile of one language (cached on disk; `tokenizer()` is called only when it must be computed)."""
    from ..data import load_split, texts_of
    from ..settings import data_dir as default_data_dir

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    splits = [task.train_split] + ([task.eval_split] if task.eval_split != task.train_split else [])
    for split in splits:
        signature = f"v{PROFILE_VERSION}:{sample_rows}:{_data_signature(task, lang, split, data_dir)}"
        cached = _read_profile(task, lang, model, signature)
        if cached is not None:
            return cached
        try:
            ds = load_split(task, lang, split, data_dir=data_dir)
        except XltError:
            continue
        rows = len(ds)
        sample = ds.shuffle(seed=0).select(range(min(sample_rows, rows)))
        first, second = texts_of(task, sample)
        texts = first + (second or [])
        ids = tokenizer()(texts, add_special_tokens=False)["input_ids"]
        profile = LanguageProfile(lang=lang, script=dominant_script(texts) or usual_script(lang), script_measured=True,
                                  rows=rows if split == task.train_split else None,
                                  types=frozenset(i for seq in ids for i in seq))
        _write_profile(task, lang, model, signature, profile)
        return profile
    return LanguageProfile(lang=lang, script=usual_script(lang), script_measured=False)


def _read_profile(task, lang, model, signature) -> LanguageProfile | None:
    try:
        data = json.loads(_profile_file(task, lang, model).read_text(encoding="utf-8"))
        if data.get("signature") != signature:
            return None
        return LanguageProfile(lang=lang, script=str(data["script"]), script_measured=True, rows=data["rows"],
                               types=frozenset(int(i) for i in data["types"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_profile(task, lang, model, signature, profile: LanguageProfile) -> None:
    path = _profile_file(task, lang, model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"signature": signature, "script": profile.script, "rows": profile.rows,
                                       "types": sorted(profile.types or ())}))
    except OSError:  # a read-only cache only costs the next call the computation
        pass


def pair_features(task: TaskSpec, languages, model: str | None = None, data_dir: str | Path | None = None,
                  tokenizer=None, distances: dict | None = None, sample_rows: int = SAMPLE_ROWS) -> PairFeatures:
    """Features of every ordered pair of distinct `languages` for `task` and `model`.

    Args:
        task: the task whose data measures scripts, sizes and overlap.
        languages: ISO codes (sources and targets together).
        model: registry name (or Hub id) whose tokenizer and pre-training coverage count; default: the default.
        data_dir: local data root (default `XLT_DATA_DIR`, else the Hub).
        tokenizer: a tokenizer to use instead of the model's (tests).
        distances: `uriel_distances` output to use instead of lang2vec (tests).
        sample_rows: rows per language whose subword types are compared.
    """
    from ..models.loading import load_tokenizer
    from ..models.registry import DEFAULT_MODEL, resolve_model

    model = model or DEFAULT_MODEL
    spec = resolve_model(model)
    languages = sorted(set(languages))
    notes: list[str] = []
    loaded: list = []

    def get_tokenizer():
        if tokenizer is not None:
            return tokenizer
        if not loaded:
            try:
                loaded.append(load_tokenizer(spec))
            except XltError as exc:  # tried once: every language would wait for the same failure again
                loaded.append(exc)
        if isinstance(loaded[0], XltError):
            raise loaded[0]
        return loaded[0]

    profiles = {}
    left_out: dict[str, list[str]] = {}  # why -> languages: a tokenizer that cannot load fails them all alike
    for lang in languages:
        try:
            profiles[lang] = language_profile(task, lang, model, get_tokenizer, data_dir, sample_rows)
        except XltError as exc:  # e.g. a Hub tokenizer offline: that language's data features are left out
            left_out.setdefault(str(exc), []).append(lang)
            profiles[lang] = LanguageProfile(lang=lang, script=usual_script(lang), script_measured=False)
    for why, langs in left_out.items():
        notes.append(f"{', '.join(langs)}: data features left out ({why})")
    no_data = [lang for lang, p in profiles.items()
               if p.types is None and not any(lang in langs for langs in left_out.values())]
    if no_data:
        notes.append(f"no {task.name} data for {', '.join(no_data)}: subword overlap unknown, usual script assumed")
    if distances is None:
        reason = typology_available()
        try:
            distances = {} if reason else uriel_distances(languages)
        except XltError as exc:
            reason = str(exc)
            distances = {}
        if reason:
            notes.append(reason)
    rows = []
    for s in languages:
        for t in languages:
            if s == t:
                continue
            ps, pt = profiles[s], profiles[t]
            pair = distances.get((s, t)) or {}
            overlap = (len(ps.types & pt.types) / len(ps.types | pt.types)
                       if ps.types and pt.types else float("nan"))
            rows.append({"source": s, "target": t, **{d: pair.get(d, float("nan")) for d in DISTANCES},
                         "script_match": float(ps.script == pt.script), "subword_overlap": overlap,
                         "source_size": math.log10(ps.rows) if ps.rows else float("nan"),
                         "source_covered": float(spec.covers(s)), "target_covered": float(spec.covers(t))})
    frame = pd.DataFrame(rows, columns=["source", "target", *FEATURES]).set_index(["source", "target"])
    return PairFeatures(frame=frame, profiles=profiles, notes=notes)


_cache_lock = threading.Lock()
_memory: dict[tuple, PairFeatures] = {}


def _memory_key(task: TaskSpec, languages, model: str | None) -> tuple:
    from ..models.registry import DEFAULT_MODEL
    from ..settings import data_dir

    return task.name, tuple(sorted(set(languages))), model or DEFAULT_MODEL, str(data_dir() or "")


def cached_pair_features(task: TaskSpec, languages, model: str | None = None) -> PairFeatures:
    """`pair_features` kept in memory per (task, languages, model, data folder): the app asks often."""
    key = _memory_key(task, languages, model)
    with _cache_lock:  # one computation at a time; the others then find it here
        if key not in _memory:
            if len(_memory) >= 32:
                _memory.pop(next(iter(_memory)))
            _memory[key] = pair_features(task, key[1], key[2])
        return _memory[key]


def features_cached(task: TaskSpec, languages, model: str | None = None) -> bool:
    """Whether `cached_pair_features` answers from memory (the app says "computing" before it does not)."""
    return _memory_key(task, languages, model) in _memory
