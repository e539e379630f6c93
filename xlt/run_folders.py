"""Where a run keeps its checkpoints: `$XLT_HOME/runs/<config fingerprint>`, found again across precision names.

A precision is part of a run's settings, so `auto` and `fp32` are two fingerprints even on a CPU, where `auto`
trains in float32: the same training. A run resumes the interrupted checkpoints of such a twin (`xlt sweep
--precision fp32` on a CPU picks up an `auto` cell killed half way, and the other way round), and a method
whose first stage is a zero-shot run finds that run under either name. A twin's folder is taken only when every
training in it noted (`trained_as.json`) the precision this run trains at and the processes it runs in: a
home shared with a GPU machine, whose `auto` folders trained in bf16, never passes bf16 checkpoints off as
float32.
"""

from __future__ import annotations

import json
from pathlib import Path


def precision_twins(config) -> list:
    """`config`, then the same settings under the other precision name that trains the same on this machine
    (`auto` and what it resolves to here), if any."""
    from .training import resolved_precision

    here = resolved_precision("auto")
    precision = config.train.precision
    twin = "auto" if precision == here else here if precision == "auto" else None
    if twin is None or twin == precision:
        return [config]
    return [config, config.with_precision(twin)]


def run_folder(config) -> Path:
    """The run folder of `config`: its own when it exists, else a precision twin's that trained the same way,
    else its own."""
    from .settings import home_dir
    from .training import resolved_precision, world_size

    own, *twins = [home_dir() / "runs" / c.fingerprint() for c in precision_twins(config)]
    if own.is_dir():
        return own
    wanted = {"precision": resolved_precision(config.train.precision), "world_size": world_size()}
    return next((folder for folder in twins if trained_as(folder) == [wanted]), own)


def trained_as(folder: Path) -> list[dict]:
    """What the trainings in `folder` (and its stages' folders) noted they trained with, one entry per
    distinct note; empty when none did (an older folder: never taken as a twin)."""
    from .training import TRAINED_AS

    notes = []
    for path in sorted(folder.glob(f"**/{TRAINED_AS}")) if folder.is_dir() else ():
        try:
            note = json.loads(path.read_text())
        except (OSError, ValueError):
            return [{"unreadable": str(path)}]
        if note not in notes:
            notes.append(note)
    return notes
