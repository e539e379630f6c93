"""On-disk translation cache: one SQLite file keyed by (translator, direction, text).

Translating a training set or a test file takes minutes with a rule-based or neural translator;
every later run (another seed, another method, a sweep cell) finds the same sentences here, so
nothing is translated twice. SQLite keeps concurrent runs (a sweep, the app's jobs) safe. A cache
that cannot be written (a read-only disk) turns itself off with a warning instead of failing a run.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

_LOG = logging.getLogger(__name__)
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds


def default_cache_path() -> Path:
    """`$XLT_CACHE/translations/translations.sqlite` (read when called, so tests can point it elsewhere)."""
    from ..settings import cache_dir

    return cache_dir() / "translations" / "translations.sqlite"


class TranslationCache:
    """Translations already made, by translator identity, direction (`en-es`) and source text."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_cache_path()
        self.disabled = False

    def _connect(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS translations (translator TEXT NOT NULL, direction TEXT NOT NULL, "
                         "source TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (translator, direction, source))")
            return conn
        except (OSError, sqlite3.Error) as exc:
            _LOG.warning("translation cache %s is not usable (%s); translating without it", self.path, exc)
            self.disabled = True
            return None

    def get_many(self, translator: str, direction: str, texts: Iterable[str]) -> dict[str, str]:
        """The cached translations of those `texts` that have one."""
        texts = list(dict.fromkeys(texts))
        conn = self._connect()
        if conn is None or not texts:
            return {}
        found: dict[str, str] = {}
        try:
            with conn:
                for start in range(0, len(texts), _CHUNK):
                    chunk = texts[start:start + _CHUNK]
                    rows = conn.execute(
                        "SELECT source, target FROM translations WHERE translator = ? AND direction = ? AND source IN "
                        f"({','.join('?' * len(chunk))})", [translator, direction, *chunk])
                    found.update(rows.fetchall())
        except sqlite3.Error as exc:
            _LOG.warning("translation cache read failed (%s); translating without it", exc)
            return {}
        finally:
            conn.close()
        return found

    def put_many(self, translator: str, direction: str, pairs: dict[str, str]) -> None:
        conn = self._connect()
        if conn is None or not pairs:
            return
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?)",
                                 [(translator, direction, s, t) for s, t in pairs.items()])
        except sqlite3.Error as exc:
            _LOG.warning("translation cache write failed (%s)", exc)
        finally:
            conn.close()

    def count(self, translator: str | None = None) -> int:
        """Cached translations (of one translator, or all)."""
        conn = self._connect()
        if conn is None:
            return 0
        try:
            if translator is None:
                return conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0]
            return conn.execute("SELECT COUNT(*) FROM translations WHERE translator = ?", [translator]).fetchone()[0]
        finally:
            conn.close()
