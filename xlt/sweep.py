"""`xlt sweep GRID.yaml`: a grid of experiments, validated up front, run one cell at a time.

A grid file names the settings every cell shares (`base`) and lists the values to cross
(`grid`); `cells` lists variants (e.g. one per method) that are each crossed with
`grid`. Keys are experiment settings (`task`, `method`,
`model`, `source_languages`, `target_languages`, `train_split`, `eval_split`,
`method_options`), training settings as `train.<name>` (or inside a `train:` mapping), and
`seed` for `train.seed`:

    protocol: cpu-v1
    results_dir: ../leaderboard/results   # relative to this file; default: your results store
    premise_control: true                 # pair tasks: records also score premise-shuffled inputs
    base: {task: sentiment, train: {finetune: lora, epochs: 6}}
    grid: {method: [zero-shot], seed: [42, 43, 44], source_languages: [[en], [de]]}

Every cell still to run is checked before anything trains; cells whose record already exists (same
config fingerprint) are skipped, an interrupted cell resumes from its checkpoint in
`$XLT_HOME/runs/<fingerprint>`, and each record is filed as soon as its cell finishes.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import ExperimentConfig, TrainConfig
from .errors import XltError
from .results.records import check_protocol

EXPERIMENT_KEYS = {"task", "method", "model", "source_languages", "target_languages", "train_split", "eval_split",
                   "method_options"}
FILE_KEYS = {"protocol", "results_dir", "base", "grid", "cells", "description", "premise_control"}


@dataclass
class Sweep:
    """A parsed grid: its cells (validated configs) and where their records go."""

    name: str
    cells: list[ExperimentConfig]
    protocol: str | None = None
    results_dir: Path | None = None
    description: str = ""
    skipped: dict[str, dict] = field(default_factory=dict)  # fingerprint -> existing record
    premise_control: bool = False  # pair tasks: each record also scores premise-shuffled inputs


def _apply(settings: dict, key: str, value, where: str) -> None:
    """Set one grid key on a nested experiment dict."""
    if not isinstance(key, str):
        raise XltError(f"{where}: grid keys are names, got {key!r}")
    if key == "seed":
        key = "train.seed"
    if key == "train":
        if not isinstance(value, dict):
            raise XltError(f"{where}: 'train' must be a mapping of training settings")
        for name, v in value.items():
            _apply(settings, f"train.{name}", v, where)
        return
    if key.startswith("train."):
        name = key[6:]
        if name not in TrainConfig.__dataclass_fields__:
            raise XltError(f"{where}: unknown training setting {name!r}")
        settings.setdefault("train", {})[name] = value
        return
    if key.startswith("method_options."):
        settings.setdefault("method_options", {})[key.split(".", 1)[1]] = value
        return
    if key not in EXPERIMENT_KEYS:
        raise XltError(f"{where}: unknown grid key {key!r}; use {', '.join(sorted(EXPERIMENT_KEYS))}, seed, "
                       "train.<setting> or method_options.<option>")
    if key == "method_options" and isinstance(value, dict):
        settings.setdefault("method_options", {}).update(value)
        return
    settings[key] = value


def load_grid(path: str | Path) -> dict:
    """Read a grid file (YAML or JSON), with one clear message for anything that is not a grid."""
    import yaml

    from .yaml_files import load_yaml, yaml_problem

    path = Path(path)
    if not path.is_file():
        raise XltError(f"grid file {path} does not exist")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise XltError(f"{path} is not a YAML grid file: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise XltError(f"{path} must hold a mapping with 'base' and 'grid' (got {type(data).__name__})")
    unknown = sorted(map(str, set(data) - FILE_KEYS))
    if unknown:
        raise XltError(f"{path}: unknown key(s) {unknown}; a grid file has {', '.join(sorted(FILE_KEYS))}")
    return data


def _flat_keys(settings: dict) -> set[str]:
    """The settings a mapping sets, spelled one way: `seed` and `train: {seed}` are `train.seed`,
    `method_options: {shots}` is `method_options.shots`."""
    keys = set()
    for key, value in settings.items():
        if key in ("train", "method_options") and isinstance(value, dict):
            keys |= {f"{key}.{name}" for name in value}
        else:
            keys.add("train.seed" if key == "seed" else key)
    return keys


def expand(data: dict, name: str = "grid") -> list[ExperimentConfig]:
    """The cells of a grid: `base` crossed with every combination of `grid`, then `cells`."""
    base = data.get("base") or {}
    grid = data.get("grid") or {}
    extra = data.get("cells") or []
    if not isinstance(base, dict) or not isinstance(grid, dict) or not isinstance(extra, list):
        raise XltError(f"{name}: 'base' and 'grid' must be mappings and 'cells' a list")
    if "cells" in data and not extra:  # an emptied list would run the base alone, not nothing
        raise XltError(f"{name}: 'cells' is empty; list at least one cell, or leave 'cells' out to run the base "
                       "crossed with 'grid'")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise XltError(f"{name}: grid key {key!r} must list at least one value")
    crossed = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    # each explicit cell is a variant crossed with the grid (e.g. every method with every seed)
    grid_keys = _flat_keys(grid)
    for i, variant in enumerate(extra):
        mine = _flat_keys(variant) if isinstance(variant, dict) else set()
        clash = sorted({a for a in mine for b in grid_keys  # `method_options` covers `method_options.shots`
                        if a == b or a.startswith(b + ".") or b.startswith(a + ".")})
        if clash:
            raise XltError(f"{name}: cell {i + 1} sets {', '.join(clash)}, which 'grid' also crosses; set it in one "
                           "place (a cell's value would be overridden)")
    combos = [{**variant, **point} if isinstance(variant, dict) else variant
              for variant in (extra or [{}]) for point in crossed]
    configs = []
    for i, combo in enumerate(combos):
        if not isinstance(combo, dict):
            raise XltError(f"{name}: cell {i + 1} must be a mapping of settings")
        settings: dict = {}
        for key, value in [*base.items(), *combo.items()]:
            _apply(settings, key, copy.deepcopy(value), f"{name} cell {i + 1}")
        try:
            configs.append(ExperimentConfig.from_dict(settings))
        except XltError as exc:
            raise XltError(f"{name} cell {i + 1}: {exc}") from None
    return configs


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`K/N` -> (K, N): this process takes every N-th cell starting at the K-th."""
    if text is None:
        return None
    parts = str(text).split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or not 1 <= int(parts[0]) <= int(parts[1]):
        raise XltError(f"--shard takes K/N with 1 <= K <= N (e.g. 2/4: the 2nd of 4 processes), got {text!r}")
    return int(parts[0]), int(parts[1])


ONLY_KEYS = {
    "method": lambda c: c.method,
    "seed": lambda c: str(c.train.seed),
    "source": lambda c: "+".join(c.source_languages),
    "target": lambda c: "+".join(c.target_languages or []),
}


def _only_value(config, key: str) -> str:
    if key.startswith("option."):  # the option's effective value: a default the grid leaves out matches too
        from .methods import get_method

        value = getattr(get_method(config.method).options(config.method_options), key[7:], None)
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return ONLY_KEYS[key](config)


def parse_only(items: list[str] | None) -> dict[str, set[str]]:
    """`["method=translate-train,translate-train-all", "seed=42"]` -> {key: accepted values}; a cell runs when
    it matches every key (any of a key's values). Languages are joined with `+` (`source=en+es+de`);
    `option.<name>` matches a method option as the grid sets it (`option.translator=gold`)."""
    only: dict[str, set[str]] = {}
    for item in items or []:
        key, sep, values = str(item).partition("=")
        key = key.strip()
        accepted = {v.strip() for v in values.split(",") if v.strip()}
        if not sep or not (key in ONLY_KEYS or (key.startswith("option.") and len(key) > 7)) or not accepted:
            raise XltError(f"--only takes KEY=VALUE[,VALUE...] with KEY one of {', '.join(sorted(ONLY_KEYS))} or "
                           f"option.<method option> (e.g. method=translate-train, source=en+es+de, "
                           f"option.translator=gold), got {item!r}")
        only.setdefault(key, set()).update(accepted)
    return only


def prepare(path: str | Path, shard: tuple[int, int] | None = None, only: dict[str, set[str]] | None = None,
            check_cells: bool = True, hub_data: bool = False) -> Sweep:
    """Parse and validate every cell before anything runs; find the cells already done.

    `only` (from `parse_only`) keeps the cells that match it, e.g. the cells a machine without Apertium
    cannot run left to one that has it. `shard` (K, N) then keeps every N-th cell from the K-th, so N
    processes side by side (one big GPU fits several small trainings) share a grid without running a cell
    twice. `check_cells=False` leaves the cells still to run unchecked (`unrunnable` checks them one by one).
    `hub_data`: the cells will run on the Hub's data (`--backend hf-jobs`), so they are checked without this
    machine's data folder."""
    from .experiment import check_writable_folder, normalise_options

    data = load_grid(path)
    name = Path(path).stem
    seen = {}
    for i, config in enumerate(expand(data, name)):
        try:  # `shots: 10` (the default) and no option are one cell, done or not
            normalise_options(config)
        except XltError as exc:
            raise XltError(f"{name} cell {i + 1} ({config.method}): {exc}") from None
        seen.setdefault(config.fingerprint(), config)
    cells = list(seen.values())
    if only:
        cells = [c for c in cells if all(_only_value(c, key) in accepted for key, accepted in only.items())]
        if not cells:
            wanted = " ".join(f"{key}={','.join(sorted(v))}" for key, v in sorted(only.items()))
            raise XltError(f"no cell of {name} matches --only {wanted}")
        name = f"{name}.only"
    if shard:
        cells = cells[shard[0] - 1::shard[1]]
        name = f"{name}.shard{shard[0]}of{shard[1]}"
    results_dir = None
    if data.get("results_dir"):  # relative to the grid file, so a sweep files where it did from any directory
        results_dir = (Path(path).resolve().parent / Path(str(data["results_dir"])).expanduser()).resolve()
        check_writable_folder(results_dir, f"{name}: results_dir")  # before any cell trains, not after
    premise_control = data.get("premise_control", False)
    if not isinstance(premise_control, bool):
        raise XltError(f"{name}: premise_control must be true or false, got {premise_control!r}")
    protocol = check_protocol(data.get("protocol"), f"{name}: protocol")
    sweep = Sweep(name, cells, protocol, results_dir, data.get("description", ""),
                  premise_control=premise_control)
    sweep.skipped = done_index(sweep)
    # only the cells still to run: a machine without a cell's translator can still rerun a finished grid, or
    # run part of one
    if check_cells and (cannot := unrunnable(sweep, hub_data)):
        i, config = next((i, c) for i, c in enumerate(sweep.cells) if c.fingerprint() in cannot)
        raise XltError(f"{name} cell {i + 1} ({config.method}, {','.join(config.source_languages)}, seed "
                       f"{config.train.seed}): {cannot[config.fingerprint()]}")
    return sweep


def done_index(sweep: Sweep) -> dict[str, dict]:
    """Existing records by config fingerprint: read once, not once per cell."""
    from .results.records import read_records

    folder = sweep.results_dir if sweep.results_dir else _store().local_dir
    records, _ = read_records(folder) if Path(folder).is_dir() else ([], [])
    wanted = {c.fingerprint() for c in sweep.cells}
    return {r["config_fingerprint"]: r for r in records if r.get("config_fingerprint") in wanted}


def _store():
    from .results.store import ResultsStore

    return ResultsStore()


def estimate_seconds(sweep: Sweep) -> float | None:
    """Rough CPU/GPU time of the cells still to run, from finished records of the same task and method (and
    the grid's protocol where it has records: the same recipe): seconds per training example-epoch, plus their
    evaluation time. A low quartile sets each: a record's time is wall-clock, so a run that shared the machine
    or was paused only ever took longer. Example-epochs come from each method's `train_size` (translate-train-all
    trains on the source and every translation of it; few-shot's shots have their own epochs), for the
    records as for the cells, so a cell of another size scales by its own."""
    from .results.records import read_records

    folder = sweep.results_dir if sweep.results_dir else _store().local_dir
    records, _ = read_records(folder) if Path(folder).is_dir() else ([], [])
    sizes: dict[str, float | None] = {}
    total, known = 0.0, False
    for config in sweep.cells:
        if config.fingerprint() in sweep.skipped:
            continue
        similar = _similar_records(records, config)
        same_protocol = [r for r in similar if sweep.protocol and r.get("protocol") == sweep.protocol]
        similar = same_protocol or similar
        if not similar:
            continue
        rates = [rate for r in similar if (rate := _seconds_per_example_epoch(r, sizes)) is not None]
        try:  # a plugin method's hook runs without a model spec: whatever it raises, fall back
            size = train_size(config)
        except Exception:  # noqa: BLE001
            size = None
        if size is None:  # data that cannot be counted here (the Hub's): the size of the closest record
            size = similar[0]["training"]["train_examples"] * config.train.epochs
        evals = [r["training"]["eval_seconds"] for r in similar if r["training"].get("eval_seconds") is not None]
        total += (_low_quartile(rates) * size if rates else 0.0) + (_low_quartile(evals) if evals else 0.0)
        known = True
    return total if known else None


def _seconds_per_example_epoch(record: dict, sizes: dict) -> float | None:
    key = json.dumps(record.get("config"), sort_keys=True, default=str)
    if key not in sizes:
        try:
            sizes[key] = train_size(ExperimentConfig.from_dict(record["config"]))
        except Exception:  # noqa: BLE001 - an unparsable record or a plugin's hook: size it by its own count
            sizes[key] = None
    size = sizes[key] or record["training"]["train_examples"] * record["config"]["train"]["epochs"]
    return record["train_seconds"] / size if size else None


def train_size(config: ExperimentConfig, data_root: Path | None = None) -> float | None:
    """Training example-epochs of `config` (its method's `train_size` from the source rows of the local data
    files, counted, nothing loaded), or None where those files are not here."""
    from .data import local_split_path
    from .methods import MethodContext, get_method
    from .settings import data_dir
    from .tasks import get_task

    try:
        task, method = get_task(config.task), get_method(config.method)
        options = method.options(config.method_options)
    except XltError:
        return None
    root = Path(data_root) if data_root is not None else data_dir()
    if root is None and method.trains:  # the Hub's data: nothing to count here
        return None
    split = config.train_split or task.train_split
    rows: dict[str, int] = {}
    for lang in config.source_languages if method.trains else []:
        try:  # counted once per file version: an edit recounts
            stamps = tuple(os.stat(local_split_path(task, lang, part.strip(), root)).st_mtime_ns
                           for part in split.split("+"))
            rows[lang] = _row_count(task.name, lang, split, root, stamps)
        except (OSError, UnicodeDecodeError):
            return None
    ctx = MethodContext(experiment=config, task=task, model_spec=None, options=options, output_dir=Path("."),
                        data_dir=root, show_progress=False)
    return method.train_size(ctx, rows)


@functools.lru_cache(maxsize=256)
def _row_count(task_name: str, lang: str, split: str, root: Path, stamps: tuple) -> int:
    from .data import local_row_count
    from .tasks import get_task

    return local_row_count(get_task(task_name), lang, split, root)


def _low_quartile(values: list[float]) -> float:
    return sorted(values)[(len(values) - 1) // 4]


def _whole_training_timed(training: dict) -> bool:
    """Whether a record's `train_seconds` covers its whole training: runs since the TrainClock always say
    (`train_seconds_this_run`; `train_seconds_partial` when resumed from an older checkpoint), older ones
    only when they were not resumed."""
    if "train_seconds_this_run" in training:
        return not training.get("train_seconds_partial")
    return not training.get("resumed_from_checkpoint")


def _similar_records(records: list[dict], config) -> list[dict]:
    """Finished records of the cell's task on this kind of device, the closest first: same method and
    sources, else same method, else zero-shot from the same sources (plain training on them), else same
    sources, else any (a few-shot record's 70 examples say nothing about a zero-shot cell's size).
    Runs resumed before training time was kept in checkpoints are left out: they timed the resumed part only."""
    usable = [r for r in records if r["task"] == config.task and r.get("hardware", {}).get("device") == _device()
              and r.get("train_seconds") and (r.get("training") or {}).get("train_examples")
              and _whole_training_timed(r.get("training") or {})]
    sources = list(config.source_languages)
    for keep in (lambda r: r["method"] == config.method and r["config"]["source_languages"] == sources,
                 lambda r: r["method"] == config.method,
                 lambda r: r["method"] == "zero-shot" and r["config"]["source_languages"] == sources,
                 lambda r: r["config"]["source_languages"] == sources):
        closest = [r for r in usable if keep(r)]
        if closest:
            return closest
    return usable


def _device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def describe(sweep: Sweep) -> str:
    lines = [f"sweep {sweep.name}: {len(sweep.cells)} cells, {len(sweep.skipped)} already done"
             + (f", protocol {sweep.protocol}" if sweep.protocol else "")]
    for i, config in enumerate(sweep.cells, 1):
        done = sweep.skipped.get(config.fingerprint())
        state = f"done ({done['run_id']})" if done else "to run"
        options = json.dumps(config.method_options, sort_keys=True) if config.method_options else ""
        lines.append(f"  [{i}/{len(sweep.cells)}] {config.task} {config.method} {options} "
                     f"src={','.join(config.source_languages)}"
                     + (f" tgt={','.join(config.target_languages)}" if config.target_languages else "")
                     + f" seed={config.train.seed}: {state}")
    seconds = estimate_seconds(sweep)
    todo = len(sweep.cells) - len(sweep.skipped)
    if todo:
        lines.append(f"estimated time for {todo} cell(s): " + (f"{seconds / 60:.0f} min (from finished records "
                     "of the same task on this kind of device)" if seconds else "unknown (no similar records yet)"))
    return "\n".join(lines)


def run_sweep(sweep: Sweep, show_progress: bool = True, log=print) -> list[dict]:
    """Run every cell that is not done, one at a time; returns the new records."""
    from .experiment import run_and_file

    store = None if sweep.results_dir else _store()
    todo = [c for c in sweep.cells if c.fingerprint() not in sweep.skipped]
    records, failures = [], []
    start = time.time()
    for i, config in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {config.to_command(sweep.protocol, sweep.premise_control)}")
        try:
            record = run_and_file(config, store=store, results_dir=sweep.results_dir, protocol=sweep.protocol,
                                  show_progress=show_progress, premise_control=sweep.premise_control)
        except XltError as exc:
            failures.append((config, str(exc)))
            log(f"[{i}/{len(todo)}] failed: {exc}")
            continue
        records.append(record)
        sweep.skipped[config.fingerprint()] = record
        avg = record["summary"].get("target_average")
        elapsed = time.time() - start
        spent = (record.get("training") or {}).get("train_seconds_this_run", record["train_seconds"])
        log(f"[{i}/{len(todo)}] done in {spent:.0f}s training: target average "
            f"{avg if avg is None else round(avg, 4)}; record {record.get('path')}; "
            f"{elapsed / 60:.1f} min so far, ~{elapsed / i * (len(todo) - i) / 60:.0f} min left")
    if failures:
        log(f"{len(failures)} cell(s) failed; run the sweep again to retry them")
    return records


def unrunnable(sweep: Sweep, hub_data: bool = False) -> dict[str, str]:
    """{fingerprint: why} of the cells still to run that this machine cannot run (no translator, dictionary or
    data for them here), checked one by one: the others can still run."""
    from .experiment import validate

    why = {}
    for config in sweep.cells:
        if config.fingerprint() not in sweep.skipped:
            try:
                validate(config, hub_data=hub_data)
            except XltError as exc:
                why[config.fingerprint()] = str(exc)
    return why


def queue_as_jobs(sweep: Sweep, jobs, launched_by: str | None = None,
                  leave_out: set[str] | None = None) -> tuple[list, list]:
    """Queue each cell of `sweep` still to run as an ordinary background job (`xlt.jobs`: progress, log, cancel,
    resume; one per GPU), with the grid's protocol and premise control. A cell is left alone when its record
    exists (`sweep.skipped`: the grid's results, and whatever else the caller counts as done), when it is in
    `leave_out`, or when a job of this grid's protocol has it queued, running or completed. A cell
    whose newest such job was interrupted, cancelled or failed has that job resumed (from its checkpoint)
    instead of a new one. Returns (new jobs, resumed jobs)."""
    newest = {}
    for job in sorted(jobs.list(), key=lambda j: j.created):
        if job.protocol != sweep.protocol or bool(job.premise_control) != bool(sweep.premise_control):
            continue
        if job.unverified:  # a visitor's run (time-limited, filed unverified) is not a cell of the owner's grid
            continue
        try:
            newest[ExperimentConfig.from_dict(job.config).fingerprint()] = job
        except XltError:
            continue
    skip = set(sweep.skipped) | set(leave_out or ())
    queued, resumed = [], []
    for config in sweep.cells:
        fingerprint = config.fingerprint()
        if fingerprint in skip:
            continue
        job = newest.get(fingerprint)
        if job is not None and job.state in ("interrupted", "cancelled", "failed"):
            try:
                resumed.append(jobs.resume(job.id))
            except XltError:  # its process is still stopping: left for the next queueing
                continue
        elif job is None:
            queued.append(jobs.submit(config, launched_by=launched_by, protocol=sweep.protocol,
                                      premise_control=sweep.premise_control, sweep=sweep.name))
    return queued, resumed


def start_in_background(grid: str | Path, log_file: Path, shard: tuple[int, int] | None = None,
                        only_args: list[str] | None = None) -> int:
    """`xlt sweep GRID` in its own session (it survives the terminal), logging to `log_file`; returns the pid."""
    import os
    import subprocess

    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        shard_args = ["--shard", f"{shard[0]}/{shard[1]}"] if shard else []
        only = [arg for item in only_args or [] for arg in ("--only", item)]
        proc = subprocess.Popen([sys.executable, "-m", "xlt.cli", "sweep", str(grid), "--no-progress", *shard_args,
                                 *only],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.pid
