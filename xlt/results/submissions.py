"""Records uploaded by visitors: parsed with limits, validated strictly, summary recomputed.

An uploaded record is untrusted data. It is accepted only when every field is one the record
schema knows, every name is a registered task or method, a model name or Hub id of a safe
charset, every language a language code, every structure within size limits; and its summary
is recomputed from its per-language metrics (a claimed `target_average` is never shown).
Accepted uploads are kept as "submitted, unverified" until the owner accepts them.
"""

from __future__ import annotations

import json
import math
import re

from ..config import check_language_codes
from ..errors import XltError
from .records import REQUIRED, has_premise_control, upgrade_record, validate_record

MAX_UPLOAD_BYTES = 400_000  # a real record with a long loss curve is ~20 kB
MAX_DEPTH = 8
MAX_NODES = 20_000
MAX_STRING = 4_000
MAX_LANGUAGES = 300

OPTIONAL = {"config_fingerprint", "data_source", "training", "seen_languages", "protocol", "model_location",
            "collapsed", "recipe", "outside_task_languages"}
KNOWN_FIELDS = set(REQUIRED) | OPTIONAL
METRIC_FIELDS = {"accuracy", "macro_f1", "n", "ci95", "premise_shuffled_accuracy", "rows"}
ROWS_DIGEST = re.compile(r"^sha256:[0-9a-f]{16}$")  # which rows a capped evaluation scored
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")


def _reject_constant(name: str):
    raise XltError(f"the file holds {name}, which is not a number a record can have")


def parse_upload(data: bytes) -> dict:
    """JSON bytes -> dict, refusing oversized, non-UTF-8, NaN/Infinity and too deeply nested input."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise XltError(f"the file is larger than {MAX_UPLOAD_BYTES // 1000} kB; a result record is ~20 kB")
    try:
        record = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise XltError(f"the file is not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise XltError(f"the file is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    except RecursionError:
        raise XltError(f"the JSON is nested too deeply (a record is at most {MAX_DEPTH} levels)") from None
    except ValueError:  # Python's json refuses integers of over 4,300 digits
        raise XltError("the file holds a number too long to read (over 4,300 digits)") from None
    if not isinstance(record, dict):
        raise XltError(f"a result record is a JSON object, not a {type(record).__name__}")
    return record


def check_structure(value, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Bound depth, size and string lengths; every key a string (iterative, so depth cannot blow the stack)."""
    stack, nodes = [(value, 0, "record")], 0
    while stack:
        item, depth, where = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise XltError(f"the record has more than {max_nodes} values")
        if depth > max_depth:
            raise XltError(f"{where} is nested deeper than {max_depth} levels")
        if isinstance(item, str):
            if len(item) > MAX_STRING:
                raise XltError(f"{where} is a text of {len(item):,} characters (limit {MAX_STRING:,})")
        elif isinstance(item, float) and not math.isfinite(item):
            raise XltError(f"{where} is not a finite number")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if len(key) > 120:
                    raise XltError(f"{where} has a key of {len(key)} characters")
                stack.append((sub, depth + 1, f"{where}.{key[:40]}"))
        elif isinstance(item, list):
            stack.extend((sub, depth + 1, f"{where}[{i}]") for i, sub in enumerate(item))


def _language_list(value, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LANGUAGES:
        raise XltError(f"'{what}' must be a list of at most {MAX_LANGUAGES} language codes")
    check_language_codes(value, f"'{what}'")
    return list(value)


def validate_submission(record: dict) -> dict:
    """A cleaned copy of an uploaded record, or `XltError` naming the first problem."""
    from ..config import ExperimentConfig
    from ..evaluation import summarise
    from ..methods import METHODS
    from ..tasks import TASKS, get_task
    from .records import recipe

    check_structure(record)
    unknown = sorted(set(record) - KNOWN_FIELDS)
    if unknown:
        raise XltError(f"unknown field(s) {[u[:40] for u in unknown[:5]]}; a record has only: "
                       f"{', '.join(sorted(KNOWN_FIELDS))}")
    validate_record(record)
    if record["task"] not in TASKS:
        raise XltError(f"unknown task {str(record['task'])[:40]!r}; known: {', '.join(TASKS.names())}")
    if record["method"] not in METHODS:
        raise XltError(f"unknown method {str(record['method'])[:40]!r}; known: {', '.join(METHODS.names())}")
    if not MODEL_NAME.match(record["model"]) or ".." in record["model"]:
        raise XltError("'model' must be a registry name or a Hub id (owner/name) of letters, digits, '.', '_', '-'")
    sources = _language_list(record["source_languages"], "source_languages")
    seen = _language_list(record.get("seen_languages", sources), "seen_languages")
    if record["method"] != "pretrained" and not set(sources) <= set(seen):
        # a source left out of the seen languages would count as a target and lift the target average
        raise XltError("'seen_languages' must include every source language (only a 'pretrained' record, whose "
                       "training data is not known, may leave them out)")
    _language_list(list(record["metrics"]), "metrics")
    _language_list(record["target_languages"], "target_languages")
    for lang, scores in record["metrics"].items():
        extra = sorted(set(scores) - METRIC_FIELDS)
        if extra:
            raise XltError(f"metrics[{lang!r}] has unknown field(s) {[e[:40] for e in extra[:5]]}")
        if "rows" in scores and not (isinstance(scores["rows"], str) and ROWS_DIGEST.match(scores["rows"])):
            raise XltError(f"metrics[{lang!r}]['rows'] must be a row-subset digest like sha256:0123456789abcdef")
    try:
        config = ExperimentConfig.from_dict(record["config"])
    except XltError as exc:
        raise XltError(f"'config' is not an experiment config: {exc}") from None
    mismatch = [key for key, ours in (("task", config.task), ("method", config.method), ("model", config.model),
                                      ("source_languages", config.source_languages), ("seed", config.train.seed))
                if record[key] != ours]
    if mismatch:
        raise XltError(f"'config' disagrees with the record on {', '.join(mismatch)}")
    if not record["command"].startswith("xlt "):
        raise XltError("'command' must be the `xlt ...` line that reproduces the run")
    task = get_task(record["task"])
    clean = dict(record)
    clean["target_languages"] = list(record["metrics"])
    clean["summary"] = summarise(record["metrics"], task.metric, sources, seen)  # never the uploaded one
    clean["config_fingerprint"] = config.fingerprint()
    clean["recipe"] = recipe(config)
    # the line the leaderboard shows to reproduce it: rebuilt from the config, never the uploader's own text
    clean["command"] = config.to_command(protocol=record.get("protocol") or None,
                                         premise_control=has_premise_control(record))
    clean.pop("model_location", None)  # a path on someone else's machine
    return upgrade_record(validate_record(clean))  # read back exactly as every reader of the store will


def recompute_summary(record: dict) -> dict:
    """The record with its summary rebuilt from its per-language metrics (the task's metric; the labelled
    source languages are not targets)."""
    from ..evaluation import summarise
    from ..tasks import METRICS, TASKS

    if record["task"] in TASKS:
        metric = TASKS.get(record["task"]).metric
    else:
        claimed = record.get("summary", {}).get("metric") if isinstance(record.get("summary"), dict) else None
        metric = claimed if claimed in METRICS else "accuracy"
    seen = record["seen_languages"] if "seen_languages" in record else record["source_languages"]
    if not isinstance(seen, list):
        raise XltError("'seen_languages' must be a list")
    sources = record["source_languages"]
    if not isinstance(sources, list):
        raise XltError("'source_languages' must be a list")
    summary = summarise(record["metrics"], metric, sources, seen)
    return {**record, "summary": summary, "target_languages": list(record["metrics"])}
