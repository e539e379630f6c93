"""One way to replace a file atomically, for every JSON file xlt writes (records, jobs, caches, state), and one way
to hold a lock file around a read-check-write of several of them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder, then rename it over `path`.

    Readers see the old file or the new one, never half of one. The temporary name is unique per writer
    (two threads or processes writing one file at once each rename their own) and hidden (`.tmp-…`), so
    folder listings that skip dot-files never read it; it is removed if the write fails.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def locked(path: str | Path):
    """Hold lock file `path`: one holder at a time across threads and processes (the app's request and background
    threads, a job's process, a second app worker). Re-entrant in one thread: a locked step may call another that
    takes the same lock."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), is_singleton=True):  # one object per path: nested holds count, never deadlock
        yield
