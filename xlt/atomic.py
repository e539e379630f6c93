"""One way to replace a file atomically, for every JSON file xlt writes (records, jobs, caches, state)."""

from __future__ import annotations

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
