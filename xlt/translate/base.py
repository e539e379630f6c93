"""The translator interface: batched, cached on disk, routed through a pivot language when asked.

A translator is a `Translator` subclass registered by name (see `xlt.translate.registry`). It says
which directions it serves *directly* (`can_translate`) and implements `_translate_direct` for one
batch of one direction; everything else is shared here:

- `route(src, tgt)`: direct, else through the `pivot` option (or the translator's default pivot,
  e.g. Spanish for Apertium: `en -> es -> fr`); a direction it cannot serve is an `XltError` that
  says what it serves, raised by methods' `validate` before any training.
- `translate(texts, src, tgt)`: whitespace normalised, duplicates translated once, every leg looked
  up in and written to the on-disk cache (`TranslationCache`) by (translator, direction, text).
- `translate_dataset(ds, task, src, tgt)`: a task's text fields translated, labels kept.
- `record(directions)`: `{"translator": spec, "translator_kind": kind}`, written into every record that
  used it (`kind` says what the translations are: `human`, `dictionary`, `rule-based`, `neural`), with
  `translator_versions` (leg -> the package versions that translate it) where the translator can say.
  The version is part of each leg's cache key, so an upgraded translator never serves the old one's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from ..errors import XltError

KINDS = ("human", "dictionary", "rule-based", "neural")


@dataclass
class TranslatorOptions:
    pivot: str | None = field(default=None, metadata={
        "help": "language to translate through when there is no direct pair (default: the translator's own, "
                "e.g. es for apertium)"})


def normalise(text: str) -> str:
    """One line, single spaces: line-based translators need it, and equal texts share a cache entry."""
    return " ".join(str(text or "").split())


class Translator:
    """Base class of translators; subclasses set the class attributes and `_translate_direct`."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options_cls: ClassVar[type] = TranslatorOptions
    default_pivot: ClassVar[str | None] = None
    cached: ClassVar[bool] = True  # lookups (gold) need no cache
    chunk_size: ClassVar[int] = 256  # texts per `_translate_direct` call; the cache is written after each
    identity_options: ClassVar[tuple[str, ...]] = ()  # options that change a direct translation (a model)

    def __init__(self, options=None, task=None, data_dir: str | Path | None = None, cache=None) -> None:
        self.options = options if options is not None else self.options_cls()
        self.task = task
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._cache = cache
        self.backend_calls = 0  # `_translate_direct` calls made (the cache makes repeats free)

    # --- identity ----------------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """`name` or `name:option=value,...` with the non-default options: what records name."""
        from ..config import non_default

        changed = non_default(self.options)
        if not changed:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(changed.items()))

    @property
    def cache_name(self) -> str:
        """The cache's translator key: the name and the options that change a direct translation."""
        parts = [f"{k}={getattr(self.options, k)}" for k in self.identity_options]
        return self.name + (":" + ",".join(parts) if parts else "")

    def leg_version(self, src: str, tgt: str) -> str:
        """What translates the direct step `src -> tgt` here, with versions (`apertium=3.8.3,...`), or ""
        when the translator cannot say (a lookup, a Hub model named by id)."""
        return ""

    def _leg_cache_name(self, src: str, tgt: str) -> str:
        version = self.leg_version(src, tgt)
        return self.cache_name + (f"@{version}" if version else "")

    def record(self, directions: Sequence[tuple[str, str]] = ()) -> dict:
        """What a run's record notes about the translations it used (`directions`: the (src, tgt) it
        translated, for the versions of their legs)."""
        out = {"translator": self.spec, "translator_kind": self.kind}
        versions = {}
        for src, tgt in dict.fromkeys(directions):
            route = self.route(src, tgt)
            for a, b in zip(route, route[1:]):
                version = self.leg_version(a, b)
                if version:
                    versions[f"{a}-{b}"] = version
        if versions:
            out["translator_versions"] = dict(sorted(versions.items()))
        return out

    # --- what it serves ----------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        """Why this translator cannot run here (a missing binary, package or data), or None."""
        return None

    def can_translate(self, src: str, tgt: str) -> bool:
        """Whether one direct step serves `src -> tgt`."""
        raise NotImplementedError

    def serves(self) -> str:
        """The directions it serves, in words (for error messages)."""
        return ""

    def route(self, src: str, tgt: str) -> list[str]:
        """The languages a translation passes through (`[src, tgt]`, or `[src, pivot, tgt]`); `XltError` when none."""
        if src == tgt:
            return [src]
        reason = self.unavailable()
        if reason:
            raise XltError(f"translator {self.spec!r} is not available: {reason}")
        if self.can_translate(src, tgt):
            return [src, tgt]
        pivot = getattr(self.options, "pivot", None) or self.default_pivot
        if pivot and pivot not in (src, tgt) and self.can_translate(src, pivot) and self.can_translate(pivot, tgt):
            return [src, pivot, tgt]
        through = f" (not even through {pivot})" if pivot and pivot not in (src, tgt) else ""
        served = self.serves()
        raise XltError(f"translator {self.spec!r} cannot translate {src} -> {tgt}{through}"
                       + (f"; it serves {served}" if served else "")
                       + ". Choose another translator (or a pivot language: translator=NAME:pivot=xx), "
                         "or leave that language out.")

    def check(self, src: str, tgt: str) -> None:
        """Raise `XltError` unless `src -> tgt` can be served (methods call it from `validate`)."""
        self.route(src, tgt)

    def check_all(self, directions: Sequence[tuple[str, str]]) -> None:
        """`check` every direction; one `XltError` naming all that cannot be served."""
        failed: list[tuple[str, XltError]] = []
        for src, tgt in dict.fromkeys(directions):
            try:
                self.check(src, tgt)
            except XltError as exc:
                failed.append((f"{src}->{tgt}", exc))
        if len(failed) == 1:
            raise failed[0][1]
        if failed:
            raise XltError(f"{failed[0][1]} It cannot serve {', '.join(d for d, _ in failed)} here: leave those "
                           "languages out (--targets) or choose another translator.")

    # --- translating -------------------------------------------------------------------------------
    def translate(self, texts: Sequence[str], src: str, tgt: str,
                  progress: Callable[[int], object] | None = None) -> list[str]:
        """Translate `texts` from `src` into `tgt` (one output per input, in order).

        Args:
            progress: called with the number of texts finished after each chunk (of the last leg).
        """
        route = self.route(src, tgt)
        out = [normalise(t) for t in texts]
        for i, (a, b) in enumerate(zip(route, route[1:])):
            out = self._translate_leg(out, a, b, progress if i == len(route) - 2 else None)
        return out

    def _translate_leg(self, texts: list[str], src: str, tgt: str, progress=None) -> list[str]:
        unique = [t for t in dict.fromkeys(texts) if t]
        direction = f"{src}-{tgt}"
        cache = self.cache if self.cached else None
        key = self._leg_cache_name(src, tgt) if cache is not None else ""
        done = cache.get_many(key, direction, unique) if cache is not None else {}
        if progress is not None and done:
            progress(sum(1 for t in texts if t in done))
        missing = [t for t in unique if t not in done]
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start:start + self.chunk_size]
            self.backend_calls += 1
            translated = [normalise(t) for t in self._translate_direct(chunk, src, tgt)]
            if len(translated) != len(chunk):
                raise XltError(f"translator {self.spec!r} returned {len(translated)} translations for "
                               f"{len(chunk)} texts ({direction})")
            new = dict(zip(chunk, translated))
            if cache is not None:
                cache.put_many(key, direction, new)
            done.update(new)
            if progress is not None:
                progress(sum(1 for t in texts if t in new))
        return [done.get(t, "") if t else "" for t in texts]

    @property
    def cache(self):
        if self._cache is None:
            from .cache import TranslationCache

            self._cache = TranslationCache()
        return self._cache

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """One batch of non-empty, normalised texts, one direct step."""
        raise NotImplementedError

    def translate_dataset(self, ds, task, src: str, tgt: str, *, split: str | None = None, progress=None):
        """`ds` (a task's rows) with its text fields translated from `src` into `tgt`; other columns kept.

        All text fields go through one `translate` call (XNLI premises repeat: each is translated once).
        """
        text_fields, columns = list(task.text_fields), list(ds.column_names)
        texts = [t for f in text_fields for t in ds[f]]
        translated = self.translate(texts, src, tgt, progress=progress)
        n = len(ds)
        for i, f in enumerate(text_fields):
            ds = ds.remove_columns(f).add_column(f, translated[i * n:(i + 1) * n])
        return ds.select_columns(columns)


def option_names(translator_cls: type[Translator]) -> list[str]:
    return [f.name for f in fields(translator_cls.options_cls)]
