"""Load task splits (local files or the Hub, both through `datasets`) and tokenize them."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import XltError
from .settings import data_dir as default_data_dir
from .tasks import TaskSpec


def local_split_path(task: TaskSpec, lang: str, split: str, data_dir: Path) -> Path:
    """`<data_dir>/<local_dir>/<split>/<lang>.jsonl`, or `XltError` when the names would lead out of `data_dir`.

    Configs refuse such names first (language codes, split names); this is the last guard, for every caller: a
    language `../../tmp/x` must never read or probe a file elsewhere. The check is on the path as written (`..`
    and `/` resolved), so a data folder whose files the owner linked from elsewhere keeps working.
    """
    root = os.path.abspath(data_dir)
    path = Path(data_dir) / task.local_dir / split / f"{lang}.jsonl"
    if os.path.commonpath([root, os.path.abspath(path)]) != root:
        raise XltError(f"language {str(lang)[:40]!r} with split {str(split)[:40]!r} names a file outside the data "
                       "folder; give a language code such as en or zh")
    return path


def local_row_count(task: TaskSpec, lang: str, split: str, data_dir: Path) -> int:
    """Non-empty lines (rows) of a language's local split, its `+`-joined parts summed; `OSError` when a
    file is missing or unreadable."""
    rows = 0
    for part in split.split("+"):
        with open(local_split_path(task, lang, part.strip(), data_dir), encoding="utf-8") as fh:
            rows += sum(1 for line in fh if line.strip())
    return rows


def check_local_files(task: TaskSpec, wanted: list[tuple[str, str]], data_dir: str | Path) -> None:
    """Refuse, in one message, `(lang, split)` pairs (a split may join parts with `+`) whose file the
    local data folder lacks, naming what is there: a typo in a split name, or a folder laid out
    otherwise, is caught before any training instead of after it."""
    root = Path(data_dir)
    if not root.is_dir():
        raise XltError(f"data directory {root} does not exist. Set XLT_DATA_DIR to a folder laid out "
                       "like shared/data, or unset it to load from the Hub.")
    missing: dict[str, list[str]] = {}
    for lang, split in wanted:
        for part in (p.strip() for p in split.split("+")):
            if not local_split_path(task, lang, part, root).is_file() and lang not in missing.get(part, []):
                missing.setdefault(part, []).append(lang)
    if not missing:
        return
    folder = root / task.local_dir
    splits = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    lacks = "; ".join(f"{task.local_dir}/{part}/{langs[0]}.jsonl" if len(langs) == 1
                      else f"{task.local_dir}/{part}/<lang>.jsonl for {', '.join(langs)}"
                      for part, langs in missing.items())
    there = f"its {task.local_dir} splits: {', '.join(splits)}" if splits else f"no {task.local_dir}/ folder"
    raise XltError(f"data directory {root} has no {lacks} ({there}). "
                   "Check the split names, or set XLT_DATA_DIR to a folder laid out like shared/data.")


def load_split(task: TaskSpec, lang: str, split: str, data_dir: str | Path | None = None,
               max_samples: int | None = None, seed: int = 0):
    """One language's split of a task as a `datasets.Dataset` with text fields + `label`.

    Args:
        task: the task spec.
        lang: language code, one of `task.languages`.
        split: split name (`train`, `validation`, `test`), or several joined by `+`
            (`train+validation`), as in `datasets`.
        data_dir: local data root laid out like `shared/data`; default `XLT_DATA_DIR`,
            and the Hub when neither is set.
        max_samples: keep a seeded random sample of at most this many rows.
        seed: seed of that sample.
    """
    import datasets

    data_dir = data_dir if data_dir is not None else default_data_dir()
    if lang not in task.languages and not (
            data_dir is not None and all(local_split_path(task, lang, part.strip(), Path(data_dir)).is_file()
                                         for part in split.split("+"))):
        raise XltError(f"task {task.name!r} has no language {lang!r}; it has: {', '.join(task.languages)}")
    datasets.disable_progress_bars()
    if data_dir is not None:
        parts = [part.strip() for part in split.split("+")]
        paths = [local_split_path(task, lang, part, Path(data_dir)) for part in parts]
        check_local_files(task, [(lang, split)], data_dir)
        for path in paths:
            if path.stat().st_size == 0:
                raise XltError(f"{path} is empty")
        try:
            ds = datasets.load_dataset("json", data_files=[str(p) for p in paths], split="train")
        except Exception as exc:  # DatasetGenerationError, ArrowInvalid, ...: the file is not JSON lines
            reason = str(exc.__cause__ or exc).splitlines()[0][:160] if str(exc.__cause__ or exc) else ""
            raise XltError(f"{', '.join(map(str, paths))} is not a JSON-lines file with one object per line "
                           f"({type(exc).__name__}: {reason})") from None
    else:
        try:
            ds = datasets.load_dataset(task.hub_dataset, task.hub_config(lang), split=split)
        except Exception as exc:  # network, auth, missing config: all one message for the user
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            raise XltError(f"could not load {task.hub_dataset} ({task.hub_config(lang)}, {split}) from the Hub: "
                           f"{reason}. Offline, set XLT_DATA_DIR.") from exc
    columns = [*task.text_fields, task.label_field]
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise XltError(f"{task.name}/{lang}/{split} lacks columns {missing}; it has {ds.column_names}")
    ds = ds.select_columns(columns)
    if task.label_field != "label":
        ds = ds.rename_column(task.label_field, "label")
    ds = _clean_rows(ds, task, f"{task.name}/{lang}/{split}")
    rows = subset_rows(len(ds), max_samples, seed)
    return ds if rows is None else ds.select(rows)


def subset_rows(n_rows: int, max_samples: int | None, seed: int) -> list[int] | None:
    """The row indices of a seeded sample of at most `max_samples` of `n_rows` rows (None: every row): the
    first `max_samples` of a seeded permutation (what `datasets`' `shuffle(seed).select(range(n))` picks), so
    parallel files of equal length give the same rows in every language."""
    import numpy as np

    if max_samples is None or max_samples >= n_rows:
        return None
    return np.random.default_rng(seed).permutation(n_rows)[:max_samples].tolist()


def rows_digest(rows: list[int]) -> str:
    """A short hash of a row subset, recorded so anyone can check two runs scored the same rows."""
    import hashlib

    return "sha256:" + hashlib.sha256(",".join(map(str, rows)).encode()).hexdigest()[:16]


def label_ids(values: list, task: TaskSpec, where: str) -> list[int]:
    """Labels as class ids: ints in range, or the task's label names (any case, `_`/`-`/space alike)."""
    names = {_norm(name): i for i, name in enumerate(task.label_names)}
    out, bad = [], []
    for value in values:
        if isinstance(value, bool):
            bad.append(value)
        elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            if 0 <= int(value) < len(task.label_names):
                out.append(int(value))
            else:
                bad.append(value)
        elif isinstance(value, str) and _norm(value) in names:
            out.append(names[_norm(value)])
        elif isinstance(value, str) and value.strip().isdigit() and int(value) < len(task.label_names):
            out.append(int(value))
        else:
            bad.append(value)
    if bad:
        shown = ", ".join(repr(b) for b in list(dict.fromkeys(map(str, bad)))[:5])
        raise XltError(f"{where}: {len(bad)} row(s) have labels that are not 0..{len(task.label_names) - 1} or "
                       f"one of {', '.join(task.label_names)}: {shown}")
    return out


def _norm(text: str) -> str:
    return text.strip().lower().replace("_", " ").replace("-", " ")


def _clean_rows(ds, task: TaskSpec, where: str):
    """Labels to ids (words mapped by name; out of range refused), rows with a missing or empty text dropped."""
    import logging

    labels = label_ids(ds["label"], task, where)
    keep = [i for i, row in enumerate(zip(*(ds[f] for f in task.text_fields)))
            if all(isinstance(t, str) and t.strip() for t in row)]
    dropped = len(ds) - len(keep)
    ds = ds.remove_columns("label").add_column("label", labels)
    if dropped:
        logging.getLogger(__name__).warning("%s: %d row(s) without text were left out", where, dropped)
        ds = ds.select(keep)
    if len(ds) == 0:
        raise XltError(f"{where} has no rows with text and a label")
    return ds


def texts_of(task: TaskSpec, rows) -> tuple[list[str], list[str] | None]:
    """The first (and second, for pair tasks) text columns of a dataset or batch."""
    first = [str(t or "") for t in rows[task.text_fields[0]]]
    second = [str(t or "") for t in rows[task.text_fields[1]]] if task.is_pair else None
    return first, second


def tokenize_texts(tokenizer, first: list[str], second: list[str] | None, prefix: str, max_length: int):
    """Tokenize with the model's prefix on the first text; no padding (the collator pads)."""
    first = [prefix + t for t in first]
    return tokenizer(first, second, truncation=True, max_length=max_length)


def tokenize_dataset(ds, task: TaskSpec, tokenizer, prefix: str, max_length: int):
    """Add `input_ids`/`attention_mask`/`length` columns; drop the raw text."""

    def encode(batch):
        first, second = texts_of(task, batch)
        enc = tokenize_texts(tokenizer, first, second, prefix, max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return ds.map(encode, batched=True, remove_columns=list(task.text_fields))
