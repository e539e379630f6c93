"""Fine-tune-tab callbacks for sweeps: preview a committed grid (`sweeps/*.yaml`) and queue the cells still to
run as background jobs, one job per cell, so each has the launcher's progress, log, cancel and resume.

Only the grids committed with the app can be picked (a visitor never names a path). Queueing a grid is many
trainings at once: on a Space it is for the owner and allowed users (`xlt.access.is_owner`), even where
`XLT_OPEN_TRAINING` opens single runs to signed-in visitors. A cell counts as done when its record is committed, or a
verified record of the grid's protocol is in the app's results store (an anonymous upload never is), or a
job of that protocol has it in hand; a cell this machine cannot run (no translator, dictionary or data
here) is shown and left out.
"""

from __future__ import annotations

from pathlib import Path

from ..access import is_owner, training_refusal, username
from ..errors import XltError
from ..results.records import has_premise_control

SWEEP_HINT = ("A committed grid from `sweeps/` (the grids behind the leaderboard's protocol records). Preview shows "
              "its cells and which are done; queueing adds one job per cell still to run (one at a time on a CPU, "
              "one per GPU). `Only` keeps part of it, e.g. `method=few-shot seed=42`.")
PRECISIONS = ("auto", "fp32")
PRECISION_INFO = ("auto: bf16 on a GPU, fp32 on a CPU. Protocol cpu-v1 trains in fp32, so its grids need fp32 on "
                  "a GPU: records that sit beside the CPU ones.")


def grids_folder() -> Path:
    from ..settings import repo_root

    return repo_root() / "sweeps"


def grid_choices(folder: Path | None = None) -> list[str]:
    folder = folder or grids_folder()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _prepare(results, grid: str, only: str, folder: Path | None = None, precision: str = "auto"):
    """The chosen committed grid, prepared: its done cells found (committed, or verified records of its protocol
    in the app's store), the others left to `unrunnable`. `precision` "fp32" trains every cell in float32 (as
    `xlt sweep --precision fp32`). XltError for a bad choice."""
    from ..sweep import parse_only, prepare

    folder = folder or grids_folder()
    choices = grid_choices(folder)
    if grid not in choices:  # a name from the list, never a path
        raise XltError(f"pick one of the committed grids: {', '.join(choices) or '(none)'}")
    items = (only or "").split()
    if len(items) > 20 or len(only or "") > 1_000:
        raise XltError("`Only` takes at most 20 KEY=VALUE[,VALUE...] items")
    if precision not in PRECISIONS:
        raise XltError(f"precision must be one of {', '.join(PRECISIONS)}")
    sweep = prepare(folder / f"{grid}.yaml", only=parse_only(items) if items else None, check_cells=False,
                    precision=None if precision == "auto" else precision)
    done = _done_in_store(results, sweep)
    sweep.skipped.update({c.fingerprint(): {"run_id": "in this app's results"} for c in sweep.cells
                          if c.fingerprint() in done and c.fingerprint() not in sweep.skipped})
    return sweep


def _done_in_store(results, sweep) -> set[str]:
    """Fingerprints of the verified records of the grid's protocol (and premise control) in the app's store."""
    from ..results.store import VERIFIED
    from ..sweep import match_records

    records, _ = results.records()
    return set(match_records(sweep, [r for r in records
                                     if r.get("config_fingerprint") and r.get("status", VERIFIED) == VERIFIED
                                     and (r.get("protocol") or None) == sweep.protocol
                                     and (not sweep.premise_control or has_premise_control(r))]))


def preview_sweep(results, grid: str, only: str = "", folder: Path | None = None, precision: str = "auto") -> str:
    """The grid's cells, which are done (committed or in the app's store) and a time estimate, as Markdown."""
    from ..sweep import describe, unrunnable

    try:
        sweep = _prepare(results, grid, only, folder, precision)
    except XltError as exc:
        return f"**Error:** {exc}"
    text = describe(sweep)
    if sweep.description:
        text = f"{sweep.description}\n{text}"
    cannot = unrunnable(sweep)
    if cannot:
        numbers = [i for i, c in enumerate(sweep.cells, 1) if c.fingerprint() in cannot]
        text += (f"\n{len(cannot)} cell(s) cannot run on this machine and are left out when queueing "
                 f"({', '.join(map(str, numbers))}): {next(iter(cannot.values()))}")
    return f"```\n{text}\n```"


def queue_sweep(jobs, results, grid: str, only: str = "", profile=None, folder: Path | None = None,
                precision: str = "auto") -> str:
    """Queue the grid's cells still to run as jobs (owner and allowed users only on a Space)."""
    from ..sweep import queue_as_jobs, unrunnable

    refusal = training_refusal(profile)
    if refusal:
        return f"**Not queued:** {refusal}"
    if not is_owner(profile):
        return ("**Not queued:** a whole grid is for the Space's owner and allowed users; launch single runs "
                "with the form above.")
    try:
        sweep = _prepare(results, grid, only, folder, precision)
    except XltError as exc:
        return f"**Not queued:** {exc}"
    cannot = unrunnable(sweep)  # of the cells still to run
    try:
        queued, resumed = queue_as_jobs(sweep, jobs, launched_by=username(profile), leave_out=set(cannot))
    except XltError as exc:  # e.g. a protocol's float32 grid at `auto` on a GPU
        return f"**Not queued:** {exc}"
    note = (f" {len(cannot)} cell(s) cannot run on this machine and were left out: {next(iter(cannot.values()))}"
            if cannot else "")
    if not queued and not resumed:
        return f"Nothing to queue: every cell of {sweep.name} that can run here is done or has a job.{note}"
    left = len(sweep.cells) - len(queued) - len(resumed) - len(cannot)
    return (f"Queued {len(queued)} job(s) for {sweep.name}"
            + (f" (protocol {sweep.protocol})" if sweep.protocol else "")
            + (f", resumed {len(resumed)} stopped job(s) from their checkpoints" if resumed else "")
            + f"; {left} cell(s) were done or already had a job. They run one at a time on a CPU, one per GPU."
            + note)
