"""Where a run keeps its checkpoints: `$XLT_HOME/runs/<config fingerprint>`, found again across precision names.

A precision is part of a run's settings, so `auto` and `fp32` are two fingerprints even on a CPU, where `auto`
trains in float32: the same training. A run resumes the interrupted checkpoints of such a twin (`xlt sweep
--precision fp32` on a CPU picks up an `auto` cell killed half way, and the other way round), and a method
whose first stage is a zero-shot run finds that run under either name.
"""

from __future__ import annotations

import copy
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
    other = copy.deepcopy(config)
    other.train.precision = twin
    return [config, other]


def run_folder(config) -> Path:
    """The run folder of `config`: its own when it exists, else a precision twin's that does, else its own."""
    from .settings import home_dir

    folders = [home_dir() / "runs" / c.fingerprint() for c in precision_twins(config)]
    return next((folder for folder in folders if folder.is_dir()), folders[0])
