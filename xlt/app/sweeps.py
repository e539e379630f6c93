"""Fine-tune-tab callbacks for sweeps: preview a committed grid (`sweeps/*.yaml`) and queue the cells still to
run as background jobs, one job per cell, so each has the launcher's progress, log, cancel and resume.

Only the grids committed with the app can be picked (a visitor never names a path), and queueing is training:
on a Space it follows the same rules as the launcher (`xlt.access`). A cell counts as done when its record
is committed or already in the app's results store, or a job has it in hand.
"""

from __future__ import annotations

from pathlib import Path

from ..access import training_refusal, username
from ..errors import XltError

SWEEP_HINT = ("A committed grid from `sweeps/` (the grids behind the leaderboard's protocol records). Preview shows "
              "its cells and which are done; queueing adds one job per cell still to run (one at a time on a CPU, "
              "one per GPU). `Only` keeps part of it, e.g. `method=few-shot seed=42`.")


def grids_folder() -> Path:
    from ..settings import repo_root

    return repo_root() / "sweeps"


def grid_choices(folder: Path | None = None) -> list[str]:
    folder = folder or grids_folder()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _prepare(grid: str, only: str, folder: Path | None = None):
    """The chosen committed grid, prepared (cells validated, done cells found), or XltError."""
    from ..sweep import parse_only, prepare

    folder = folder or grids_folder()
    choices = grid_choices(folder)
    if grid not in choices:  # a name from the list, never a path
        raise XltError(f"pick one of the committed grids: {', '.join(choices) or '(none)'}")
    items = (only or "").split()
    if len(items) > 20 or len(only or "") > 1_000:
        raise XltError("`Only` takes at most 20 KEY=VALUE[,VALUE...] items")
    return prepare(folder / f"{grid}.yaml", only=parse_only(items) if items else None)


def _done_in_store(results) -> set[str]:
    records, _ = results.records()
    return {r["config_fingerprint"] for r in records if r.get("config_fingerprint")}


def preview_sweep(results, grid: str, only: str = "", folder: Path | None = None) -> str:
    """The grid's cells, which are done (committed or in the app's store) and a time estimate, as Markdown."""
    from ..sweep import describe

    try:
        sweep = _prepare(grid, only, folder)
    except XltError as exc:
        return f"**Error:** {exc}"
    done = _done_in_store(results)
    sweep.skipped.update({c.fingerprint(): {"run_id": "in this app's results"} for c in sweep.cells
                          if c.fingerprint() in done and c.fingerprint() not in sweep.skipped})
    text = describe(sweep)
    if sweep.description:
        text = f"{sweep.description}\n{text}"
    return f"```\n{text}\n```"


def queue_sweep(jobs, results, grid: str, only: str = "", profile=None, folder: Path | None = None) -> str:
    """Queue the grid's cells still to run as jobs (owner and allowed users only on a Space)."""
    from ..sweep import queue_as_jobs

    refusal = training_refusal(profile)
    if refusal:
        return f"**Not queued:** {refusal}"
    try:
        sweep = _prepare(grid, only, folder)
    except XltError as exc:
        return f"**Not queued:** {exc}"
    queued = queue_as_jobs(sweep, jobs, done=_done_in_store(results), launched_by=username(profile))
    left = len(sweep.cells) - len(queued)
    if not queued:
        return (f"Nothing to queue: all {len(sweep.cells)} cell(s) of {sweep.name} are done or already have a job.")
    return (f"Queued {len(queued)} job(s) for {sweep.name}"
            + (f" (protocol {sweep.protocol})" if sweep.protocol else "")
            + f"; {left} cell(s) were done or already had a job. They run one at a time on a CPU, one per GPU.")
