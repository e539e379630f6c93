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
`$XLT_HOME/runs/<fingerprint>` (or its precision twin's, `xlt/run_folders.py`), and each record is filed as
soon as its cell finishes.

`--precision fp32` trains every cell in float32: on a GPU, that extends a grid whose records were made on a
CPU (where `auto` is float32) with records that compare with them. A cell also counts as done when a record of
the same settings trained at the precision the cell trains at on this machine, so a CPU sweep skips the cells
a GPU filed in float32, and the GPU sweep the cells the CPU filed.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path

from .config import PRECISIONS, TRAINED_PRECISIONS, ExperimentConfig, TrainConfig
from .errors import XltError
from .protocols import check_follows, check_precision, get_protocol, keeps
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
    hub_jobs: bool = False  # cells run as Hugging Face Jobs: their records arrive by pulling the results repo


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
        _options_to_merge(settings, key, where)[key.split(".", 1)[1]] = value
        return
    if key not in EXPERIMENT_KEYS:
        raise XltError(f"{where}: unknown grid key {key!r}; use {', '.join(sorted(EXPERIMENT_KEYS))}, seed, "
                       "train.<setting> or method_options.<option>")
    if key == "method_options" and isinstance(value, dict):
        _options_to_merge(settings, key, where).update(value)
        return
    settings[key] = value


def _options_to_merge(settings: dict, key: str, where: str) -> dict:
    """The method options set so far, which `key` adds to: a `method_options` that is not a mapping (null, a
    list) has nothing to add an option to."""
    options = settings.setdefault("method_options", {})
    if not isinstance(options, dict):
        raise XltError(f"{where}: method_options is {options!r}, so {key} cannot be added to it; give "
                       "method_options as a mapping of option names to values (or leave it out)")
    return options


MAX_GRID_BYTES = 1_000_000
MAX_CELLS = 10_000  # a grid crossing more cells is a typo, not a plan (and would fill memory before any check)


def load_grid(path: str | Path) -> dict:
    """Read a grid file (YAML or JSON), with one clear message for anything that is not a grid."""
    import yaml

    from .yaml_files import load_yaml, yaml_problem

    path = Path(path)
    if path.is_dir():
        raise XltError(f"{path} is a folder; give a grid file (YAML), e.g. sweeps/sentiment-cpu-v1.yaml")
    if not path.is_file():
        raise XltError(f"grid file {path} does not exist")
    try:
        if path.stat().st_size > MAX_GRID_BYTES:
            raise XltError(f"{path} is {path.stat().st_size / 1e6:.1f} MB; a grid file is at most "
                           f"{MAX_GRID_BYTES // 1_000_000} MB (a grid lists settings, not data)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:  # no permission, a folder in the way
        raise XltError(f"cannot read grid file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise XltError(f"{path} is not a YAML grid file: {yaml_problem(exc)}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
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


def _overlap(a: str, b: str) -> bool:
    """Whether two flat keys set the same setting (`method_options` covers `method_options.shots`)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _grid_settings(grid: dict, name: str) -> set[str]:
    """The flat settings `grid` crosses (a list of mappings, `train: [{epochs: 1}, {seed: 5}]`, crosses the
    union of its items' keys). Two grid keys that set one setting (`seed` and `train.seed`) are refused: one
    would silently override the other and drop cells."""
    owners: dict[str, object] = {}
    for key, values in grid.items():
        for flat in set().union(*(_flat_keys({key: value}) for value in values)):
            other = next((k for k, owner in owners.items() if owner != key and _overlap(flat, k)), None)
            if other is not None:
                raise XltError(f"{name}: grid keys {owners[other]!r} and {key!r} both set {min(flat, other)}; "
                               "cross it in one key (one would override the other and drop cells)")
            owners[flat] = key
    return set(owners)


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
        if not isinstance(key, str):
            raise XltError(f"{name}: grid keys are names of settings, such as seed or train.epochs; got {key!r}")
        if not isinstance(values, list) or not values:
            raise XltError(f"{name}: grid key {key!r} must list at least one value")
    for i, variant in enumerate(extra):
        if isinstance(variant, dict) and (odd := [k for k in variant if not isinstance(k, str)]):
            raise XltError(f"{name}: cell {i + 1} key {odd[0]!r} must be a setting's name, such as method")
    count = math.prod(len(values) for values in grid.values()) * max(1, len(extra))
    if count > MAX_CELLS:
        raise XltError(f"{name}: the grid crosses {count:,} cells; at most {MAX_CELLS:,} (split it, or narrow "
                       "its lists)")
    crossed = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    # each explicit cell is a variant crossed with the grid (e.g. every method with every seed)
    grid_keys = _grid_settings(grid, name)
    for i, variant in enumerate(extra):
        mine = _flat_keys(variant) if isinstance(variant, dict) else set()
        clash = sorted({a for a in mine for b in grid_keys if _overlap(a, b)})
        if clash:
            raise XltError(f"{name}: cell {i + 1} sets {', '.join(clash)}, which 'grid' also crosses; set it in one "
                           "place (a cell's value would be overridden)")
    # set one key at a time, so a cell's `train: {lora_r}` and the grid's `train: {epochs}` both hold
    combos = [(variant, point) for variant in (extra or [{}]) for point in crossed]
    configs = []
    for i, (variant, point) in enumerate(combos):
        if not isinstance(variant, dict):
            raise XltError(f"{name}: cell {i + 1} must be a mapping of settings")
        settings: dict = {}
        for key, value in [*base.items(), *variant.items(), *point.items()]:
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


def _only_matches(config, key: str, accepted: set[str]) -> bool:
    """Whether a cell matches one `--only` key. An option is compared by value, its effective one (a default
    the grid leaves out matches too), each accepted text parsed as the option's type: `1` matches 1.0,
    `de+fr` the list [de, fr]. A cell whose method has no such option does not match."""
    if not key.startswith("option."):
        return ONLY_KEYS[key](config) in accepted
    from .config import convert_value, field_kind
    from .methods import get_method

    method = get_method(config.method)
    option = next((f for f in fields(method.options_cls) if f.name == key[7:]), None)
    if option is None:
        return False
    kind = field_kind(option)
    value = getattr(method.options(config.method_options), option.name)
    try:
        wanted = [convert_value(kind, text.replace("+", ",") if kind.base == "list" else text, option.name)
                  for text in accepted]
    except XltError as exc:
        raise XltError(f"--only {key}: {exc}") from None
    return value in wanted


def _check_only_options(cells: list[ExperimentConfig], only: dict[str, set[str]], name: str) -> None:
    """Refuse an `option.<name>` that no method of the grid has (a typo would otherwise read as "no cell
    matches"), naming the options that exist."""
    from .methods import get_method

    methods = {c.method: get_method(c.method) for c in cells}
    options = {m: [f.name for f in fields(method.options_cls)] for m, method in methods.items()}
    for key in only:
        if key.startswith("option.") and not any(key[7:] in names for names in options.values()):
            have = "; ".join(f"{m}: {', '.join(names) or 'no options'}" for m, names in sorted(options.items()))
            raise XltError(f"--only {key}: no method of {name} has an option {key[7:]!r} (options: {have})")


def parse_only(items: list[str] | None) -> dict[str, set[str]]:
    """`["method=translate-train,translate-train-all", "seed=42"]` -> {key: accepted values}; a cell runs when
    it matches every key (any of a key's values). Languages are joined with `+` (`source=en+es+de`);
    `option.<name>` matches a method option's value (`option.translator=gold`, `option.languages=de+fr`)."""
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
            check_cells: bool = True, hub_data: bool = False, precision: str | None = None) -> Sweep:
    """Parse and validate every cell before anything runs; find the cells already done.

    `only` (from `parse_only`) keeps the cells that match it, e.g. the cells a machine without Apertium
    cannot run left to one that has it. `shard` (K, N) then keeps every N-th cell from the K-th, so N
    processes side by side (one big GPU fits several small trainings) share a grid without running a cell
    twice. `check_cells=False` leaves the cells still to run unchecked (`unrunnable` checks them one by one).
    `hub_data`: the cells will run on the Hub's data (`--backend hf-jobs`), so they are checked without this
    machine's data folder. `precision` replaces every cell's training precision (`fp32` on a GPU: records
    comparable with a CPU's)."""
    from .experiment import normalise_options

    if precision is not None and precision not in PRECISIONS:
        raise XltError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    data = load_grid(path)
    name = Path(path).stem
    seen = {}
    for i, config in enumerate(expand(data, name)):
        if precision is not None:
            config.train.precision = precision
        try:  # `shots: 10` (the default) and no option are one cell, done or not
            normalise_options(config)
        except XltError as exc:
            raise XltError(f"{name} cell {i + 1} ({config.method}): {exc}") from None
        seen.setdefault(config.fingerprint(), config)
    cells = list(seen.values())
    if only:
        _check_only_options(cells, only, name)
        cells = [c for c in cells if all(_only_matches(c, key, accepted) for key, accepted in only.items())]
        if not cells:
            wanted = " ".join(f"{key}={','.join(sorted(v))}" for key, v in sorted(only.items()))
            raise XltError(f"no cell of {name} matches --only {wanted}")
        name = f"{name}.only"
    if shard:
        cells = cells[shard[0] - 1::shard[1]]
        name = f"{name}.shard{shard[0]}of{shard[1]}"
    results_dir = _results_dir(data, path, name) if "results_dir" in data else None
    premise_control = data.get("premise_control", False)
    if not isinstance(premise_control, bool):
        raise XltError(f"{name}: premise_control must be true or false, got {premise_control!r}")
    protocol = check_protocol(data.get("protocol"), f"{name}: protocol")
    for i, config in enumerate(cells, 1):  # the whole grid, done cells too: a committed grid keeps its promise
        check_follows(protocol, config, f"{name} cell {i} ({_cell_name(config)})")
    sweep = Sweep(name, cells, protocol, results_dir, data.get("description", ""),
                  premise_control=premise_control, hub_jobs=hub_data)
    sweep.skipped = done_index(sweep)
    # only the cells still to run: a machine without a cell's translator can still rerun a finished grid, or
    # run part of one
    if check_cells and (cannot := unrunnable(sweep, hub_data)):
        i, config = next((i, c) for i, c in enumerate(sweep.cells) if c.fingerprint() in cannot)
        raise XltError(f"{name} cell {i + 1} ({config.method}, {','.join(config.source_languages)}, seed "
                       f"{config.train.seed}): {cannot[config.fingerprint()]}")
    return sweep


def _results_dir(data: dict, path: str | Path, name: str) -> Path:
    """The grid's `results_dir`, relative to the grid file (a sweep files where it did from any directory),
    checked before any cell trains, not after."""
    from .experiment import check_writable_folder

    value = data["results_dir"]
    if not isinstance(value, str) or not value.strip():
        raise XltError(f"{name}: results_dir must name a folder (a path, relative to the grid file), got {value!r}; "
                       "leave it out to file into your results store")
    try:
        folder = (Path(path).resolve().parent / Path(value).expanduser()).resolve()
        check_writable_folder(folder, f"{name}: results_dir")
    except (ValueError, OSError) as exc:  # a NUL byte, a name too long, a loop of links
        raise XltError(f"{name}: results_dir {value!r} is not a usable folder: {exc}") from None
    return folder


def _record_folders(sweep: Sweep) -> list[Path]:
    """Where this sweep's records may already be: its `results_dir`, else every folder the results store reads
    verified records from (committed, this installation's, pulled from the results repo; a visitor's
    unverified upload does not stand for a cell); with Jobs, also what was pulled from the results repo."""
    if sweep.results_dir and not sweep.hub_jobs:
        return [sweep.results_dir]
    from .results.store import VERIFIED

    store = _store()
    if sweep.results_dir:
        return [sweep.results_dir, store.hub_dir]
    return [folder for folder, status in store.sources() if status == VERIFIED]


def _existing_records(sweep: Sweep) -> list[dict]:
    """The records in `_record_folders`, each run once (a pushed record is also in the pulled copy)."""
    return _read_once(_record_folders(sweep), set())


def _read_once(folders, seen: set) -> list[dict]:
    """The records in `folders` whose run id is not in `seen` (which gains theirs), each run once."""
    from .results.records import read_records

    records = []
    for folder in folders:
        for record in read_records(folder)[0] if Path(folder).is_dir() else []:
            key = record.get("run_id") or id(record)
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def _timing_records(records: list[dict]) -> list[dict]:
    """The results store's verified records besides `records`: what times the cells of a grid that files its
    records in a folder of its own (a diagnostic's), where no similar run has been filed yet."""
    from .results.store import VERIFIED

    folders = [folder for folder, status in _store().sources() if status == VERIFIED]
    return _read_once(folders, {r.get("run_id") or id(r) for r in records})


def done_index(sweep: Sweep, fingerprints: set[str] | None = None) -> dict[str, dict]:
    """Existing records by config fingerprint, of the sweep's cells (or of `fingerprints`): read once for the
    whole grid, not once per cell.

    A cell with no record of its own fingerprint is also done by a record of the same settings that trained at
    the precision the cell trains at here (`auto` is float32 on a CPU, so a GPU run with `--precision fp32`
    fills a CPU grid's cell, and the other way round; a bf16 record never fills a float32 cell this way). A
    record of the cell's own fingerprint counts whatever it trained at, as always: a GPU that runs a grid's
    `auto` cells files bf16 records that a CPU sweep of the grid then skips. With Jobs, where `auto` resolves
    on the Job's machine, only cells of an explicit precision are matched this way. A grid of a registered
    protocol (`xlt/protocols.py`) counts only records that name it and follow it (float32 among them)."""
    return match_records(sweep, _existing_records(sweep), fingerprints)


def match_records(sweep: Sweep, records: list[dict], fingerprints: set[str] | None = None) -> dict[str, dict]:
    """`done_index` over given records (e.g. the app's store): {cell fingerprint: the record that does it}."""
    wanted = fingerprints if fingerprints is not None else {c.fingerprint() for c in sweep.cells}
    records = [r for r in records if keeps(r, sweep.protocol)]  # a registered protocol's cell: only one that kept it
    index = {r["config_fingerprint"]: r for r in records if r.get("config_fingerprint") in wanted}
    missing = [c for c in sweep.cells if c.fingerprint() in wanted and c.fingerprint() not in index]
    trained = {key: r for r in records if (key := _trained_as(r))} if missing else {}
    auto = None  # what `auto` trains at here: worked out once, and only when a record could match (it imports torch)
    for config in missing if trained else ():
        keys = {p: config.with_precision(p).fingerprint() for p in TRAINED_PRECISIONS}  # the cell at each precision
        precision = config.train.precision
        if precision == "auto":
            if sweep.hub_jobs or not any(key in trained for key in keys.values()):
                continue
            precision = auto = auto or _auto_precision()
        if (found := trained.get(keys[precision])) is not None:
            index[config.fingerprint()] = found
    return index


def _trained_as(record: dict) -> str | None:
    """The fingerprint of a record's settings with the precision it trained at (None: an odd record)."""
    from .results.records import training_precision

    try:
        return ExperimentConfig.from_dict(record["config"]).with_precision(training_precision(record)).fingerprint()
    except Exception:  # noqa: BLE001 - an odd record is simply no match
        return None


def check_sweep_precision(sweep: Sweep, auto: str | None = None) -> None:
    """`XltError` before any cell runs when the grid's registered protocol trains at another precision than
    some cell still to run would where it runs: `auto` is what `auto` resolves to there (default: on this
    machine; half precision on a GPU)."""
    if get_protocol(sweep.protocol) is None:
        return
    for config in sweep.cells:
        if config.fingerprint() not in sweep.skipped:
            precision = config.train.precision
            check_precision(sweep.protocol, (auto or _auto_precision()) if precision == "auto" else precision,
                            f"{sweep.name} cell {_cell_name(config)}", precision)


def _auto_precision() -> str:
    """What precision `auto` trains at on this machine."""
    from .training import resolved_precision

    return resolved_precision("auto")


def _store():
    from .results.store import ResultsStore

    return ResultsStore()


def estimate_seconds(sweep: Sweep) -> float | None:
    """Rough CPU/GPU time of the cells still to run, from finished records of the same task and method (and
    the grid's protocol where it has records: the same recipe): seconds per training example-epoch, plus their
    evaluation time. A grid with a `results_dir` of its own and no similar record there is timed from the results
    store's verified records. A low quartile sets each: a record's time is wall-clock, so a run that shared the machine
    or was paused only ever took longer. Example-epochs come from each method's `train_size` (translate-train-all
    trains on the source and every translation of it; few-shot's shots have their own epochs), for the
    records as for the cells, so a cell of another size scales by its own."""
    records = _existing_records(sweep)
    others: list[dict] | None = None
    sizes: dict[str, float | None] = {}
    total, known = 0.0, False
    for config in sweep.cells:
        if config.fingerprint() in sweep.skipped:
            continue
        similar = _similar_records(records, config)
        if not similar and sweep.results_dir:  # a grid filing elsewhere: the store's records time its cells
            others = _timing_records(records) if others is None else others
            similar = _similar_records(others, config)
        same_protocol = [r for r in similar if sweep.protocol and r.get("protocol") == sweep.protocol]
        similar = same_protocol or similar
        if not similar:
            continue
        rates = [rate for r in similar if (rate := _seconds_per_example_epoch(r, sizes)) is not None]
        try:  # a plugin method's hook runs without a model spec: whatever it raises, fall back
            size = train_size(config, remaining=True)
        except Exception:  # noqa: BLE001
            size = None
        if size is None:  # data that cannot be counted here (the Hub's): the size of the closest record
            size = similar[0]["training"]["train_examples"] * config.train.epochs
        total += (_low_quartile(rates) * size if rates else 0.0) + _eval_estimate(similar, config, sweep)
        known = True
    return total if known else None


def _eval_estimate(similar: list[dict], config: ExperimentConfig, sweep: Sweep) -> float:
    """Evaluation seconds of a cell: the records' seconds per scored example (with the premise control each row is
    scored twice) times the cell's, so a cell on 3 languages is not sized as one on 15; where either count is
    unknown (Hub data, an older record), the records' evaluation time as it is."""
    evals = [r for r in similar if r["training"].get("eval_seconds") is not None]
    if not evals:
        return 0.0
    rows = eval_rows(config, sweep.premise_control)
    rates = [r["training"]["eval_seconds"] / scored for r in evals if (scored := _scored_rows(r))]
    if rows and rates:
        return _low_quartile(rates) * rows
    return _low_quartile([r["training"]["eval_seconds"] for r in evals])


def _scored_rows(record: dict) -> int | None:
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        return None
    try:
        rows = sum(int(m["n"]) * (2 if "premise_shuffled_accuracy" in m else 1) for m in metrics.values())
    except (KeyError, TypeError, ValueError):
        return None
    return rows or None


def eval_rows(config: ExperimentConfig, premise_control: bool = False, data_root: Path | None = None) -> int | None:
    """Examples a run of `config` scores: each target's test rows (up to `max_eval_samples`), twice for pair tasks
    with the premise control; None where the test files are not here."""
    from .settings import data_dir
    from .tasks import get_task

    root = Path(data_root) if data_root is not None else data_dir()
    try:
        task = get_task(config.task)
    except XltError:
        return None
    if root is None:
        return None
    split, cap, total = config.eval_split or task.eval_split, config.train.max_eval_samples, 0
    for lang in config.target_languages or task.languages:
        rows = _local_rows(task, lang, split, root)
        if rows is None:
            return None
        total += min(rows, cap) if cap else rows
    return total * (2 if premise_control and task.is_pair else 1)


def _seconds_per_example_epoch(record: dict, sizes: dict) -> float | None:
    key = json.dumps(record.get("config"), sort_keys=True, default=str)
    if key not in sizes:
        try:
            sizes[key] = train_size(ExperimentConfig.from_dict(record["config"]))
        except Exception:  # noqa: BLE001 - an unparsable record or a plugin's hook: size it by its own count
            sizes[key] = None
    size = sizes[key] or record["training"]["train_examples"] * record["config"]["train"]["epochs"]
    return record["train_seconds"] / size if size else None


def train_size(config: ExperimentConfig, data_root: Path | None = None, remaining: bool = False) -> float | None:
    """Training example-epochs of `config` (its method's `train_size` from the source rows of the local data
    files, counted, nothing loaded), or None where those files are not here. `remaining`: only what is still to
    train (`remaining_train_size`: a translate-test cell whose zero-shot run is trained costs its evaluation)."""
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
        rows[lang] = _local_rows(task, lang, split, root)
        if rows[lang] is None:
            return None
    ctx = MethodContext(experiment=config, task=task, model_spec=None, options=options, output_dir=Path("."),
                        data_dir=root, show_progress=False)
    return method.remaining_train_size(ctx, rows) if remaining else method.train_size(ctx, rows)


def _local_rows(task, lang: str, split: str, root: Path) -> int | None:
    """Rows of a language's local split (`+`-joined parts summed), counted once per file version (an edit
    recounts); None where a file is missing or unreadable."""
    from .data import local_split_path

    try:
        stamps = tuple(os.stat(local_split_path(task, lang, part.strip(), root)).st_mtime_ns
                       for part in split.split("+"))
        return _row_count(task.name, lang, split, root, stamps)
    except (OSError, UnicodeDecodeError, XltError):
        return None


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
    sources, else same method (both with options of the same kind of cost), else the method it is timed like
    (`TransferMethod.timed_like`: an embedding pass is not a fine-tuning), else zero-shot from the same sources
    (plain training on them), else same sources, else any (a few-shot record's 70 examples say nothing about a
    zero-shot cell's size); for a cell of an explicit precision, the records trained at it where there are any.
    Runs resumed before training time was kept in checkpoints are left out: they timed the resumed part only."""
    from .results.records import training_precision

    usable = [r for r in records if r["task"] == config.task and r.get("hardware", {}).get("device") == _device()
              and r.get("train_seconds") and (r.get("training") or {}).get("train_examples")
              and _whole_training_timed(r.get("training") or {}) and _sized(r)]
    if config.train.precision != "auto":  # a float32 cell on a GPU is timed by float32 runs there, where there are
        usable = [r for r in usable if training_precision(r) == config.train.precision] or usable
    sources = list(config.source_languages)
    like = _timed_like(config.method, config.method_options)

    def same_method(r: dict) -> bool:  # and the same kind of cost: an embedding pass does not time a fine-tuning
        return r["method"] == config.method and _timed_like(r["method"], r["config"].get("method_options")) == like

    for keep in (lambda r: same_method(r) and r["config"]["source_languages"] == sources,
                 same_method,
                 lambda r: like is not None and r["method"] == like,
                 lambda r: r["method"] == "zero-shot" and r["config"]["source_languages"] == sources,
                 lambda r: r["config"]["source_languages"] == sources):
        closest = [r for r in usable if keep(r)]
        if closest:
            return closest
    return usable


def _timed_like(method_name: str, options: dict | None) -> str | None:
    """The method whose records time cells of `method_name` with `options` while no record of the same kind
    exists (`TransferMethod.timed_like`)."""
    from .methods import get_method

    try:
        method = get_method(method_name)
        return method.timed_like(method.options(options))
    except Exception:  # noqa: BLE001 - an estimate: a plugin's hook that fails falls back to zero-shot's records
        return None


def _sized(record: dict) -> bool:
    """Whether a record says what the estimate reads (its sources, its epochs): a hand-made or odd record in the
    results folder is left out, never the reason a sweep cannot start."""
    config = record.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("train"), dict):
        return False
    return isinstance(config.get("source_languages"), list) and isinstance(config["train"].get("epochs"), (int, float))


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
    auto = [c for c in sweep.cells if c.fingerprint() not in sweep.skipped and c.train.precision == "auto"]
    if sweep.protocol and auto and not sweep.hub_jobs and (half := _auto_precision()) != "fp32":
        if (registered := get_protocol(sweep.protocol)) is not None and registered.precision != half:
            lines.append(f"note: on this machine `auto` trains in {half}, and protocol {sweep.protocol} trains in "
                         f"{registered.precision}: {len(auto)} cell(s) would be refused; --precision "
                         f"{registered.precision} (in the app: Precision {registered.precision}) trains them so")
        else:
            lines.append(f"note: on this machine `auto` trains in {half}, so {len(auto)} cell(s) would file {half} "
                         f"records under protocol {sweep.protocol}, a variant of their own beside float32 (CPU) "
                         "runs; --precision fp32 (in the app: Precision fp32) trains them in float32")
    return "\n".join(lines)


def run_sweep(sweep: Sweep, show_progress: bool = True, log=print) -> list[dict]:
    """Run every cell that is not done, one at a time; returns the new records. A cell filed meanwhile by
    another process (a second sweep, the app's queue) is skipped. A cell that fails, for any reason (bad input,
    out of memory, a full disk), is logged and the next one runs; the failed cells are named at the end and
    stay to run (the caller exits non-zero)."""
    from .experiment import run_and_file

    check_sweep_precision(sweep)
    store = None if sweep.results_dir else _store()
    todo = [c for c in sweep.cells if c.fingerprint() not in sweep.skipped]
    records, failures = [], []
    start = time.time()
    for i, config in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {config.to_command(sweep.protocol, sweep.premise_control)}")
        filed = done_index(sweep, {config.fingerprint()}).get(config.fingerprint())
        if filed is not None:
            sweep.skipped[config.fingerprint()] = filed
            log(f"[{i}/{len(todo)}] already done ({filed['run_id']}, filed while this sweep ran): skipped")
            continue
        try:
            record = run_and_file(config, store=store, results_dir=sweep.results_dir, protocol=sweep.protocol,
                                  show_progress=show_progress, premise_control=sweep.premise_control)
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not cost the cells after it
            why = str(exc) if isinstance(exc, XltError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, XltError):  # not the user's input: the whole story, for the log
                traceback.print_exc(file=sys.stderr)
            failures.append(f"[{i}/{len(todo)}] {_cell_name(config)}: {why}")
            log(f"[{i}/{len(todo)}] failed: {why}")
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
        log(f"{len(failures)} cell(s) failed; run the sweep again to retry them:")
        for failure in failures:
            log(f"  {failure}")
    return records


def _cell_name(config: ExperimentConfig) -> str:
    """A cell as a person finds it in the grid: method, options, sources, seed, fingerprint."""
    options = json.dumps(config.method_options, sort_keys=True) if config.method_options else ""
    return (f"{config.method} {options} src={','.join(config.source_languages)} seed={config.train.seed} "
            f"({config.fingerprint()})").replace("  ", " ")


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
    check_sweep_precision(sweep)
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
                        only_args: list[str] | None = None, precision: str | None = None) -> int:
    """`xlt sweep GRID` in its own session (it survives the terminal), logging to `log_file`; returns the pid."""
    import os
    import subprocess

    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_file, "ab")  # noqa: SIM115 - closed below, after the child has its own copy
    except OSError as exc:  # a file where the folder should be, no permission
        raise XltError(f"cannot write the sweep's log {log_file}: {exc.strerror or exc} (XLT_HOME names a "
                       "folder xlt can write)") from None
    with log:
        shard_args = ["--shard", f"{shard[0]}/{shard[1]}"] if shard else []
        only = [arg for item in only_args or [] for arg in ("--only", item)]
        precision_args = ["--precision", precision] if precision else []
        proc = subprocess.Popen([sys.executable, "-m", "xlt.cli", "sweep", str(grid), "--no-progress", *shard_args,
                                 *only, *precision_args],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.pid
