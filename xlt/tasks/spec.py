"""Declarative task specs: where the data lives, which fields, labels, languages, metric."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..config import check_language_codes
from ..errors import XltError
from ..registry import Registry

METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class TaskSpec:
    """One classification task available in several languages.

    Local files live at `<XLT_DATA_DIR>/<local_dir>/<split>/<lang>.jsonl`; on the Hub the
    same split is `load_dataset(hub_dataset, hub_configs.get(lang, lang), split=split)`.
    """

    name: str
    description: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    languages: tuple[str, ...]
    local_dir: str
    hub_dataset: str
    hub_configs: dict[str, str] = field(default_factory=dict)
    label_field: str = "label"
    train_split: str = "train"
    eval_split: str = "test"
    metric: str = "accuracy"
    parallel: bool = False  # rows are translations of each other across languages
    source_note: str = ""

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name}: metric must be one of {METRICS}")
        if not 1 <= len(self.text_fields) <= 2:
            raise ValueError(f"task {self.name}: one text field or a pair of them")
        if len(self.label_names) < 2:
            raise ValueError(f"task {self.name}: needs at least two labels")

    @property
    def is_pair(self) -> bool:
        return len(self.text_fields) == 2

    def hub_config(self, lang: str) -> str:
        return self.hub_configs.get(lang, lang)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("text_fields", "label_names", "languages"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        """A spec from a mapping (a YAML/JSON task file, or the copy a trained model carries)."""
        if not isinstance(data, dict):
            raise XltError("a task spec is a mapping of fields (name, text_fields, label_names, ...)")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise XltError(f"unknown task spec field(s) {unknown}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for key in ("text_fields", "label_names", "languages"):
            if key in values:
                if not isinstance(values[key], (list, tuple)) or not all(isinstance(v, str) for v in values[key]):
                    raise XltError(f"task spec field {key!r} must be a list of strings")
                values[key] = tuple(values[key])
        if not isinstance(values.get("name"), str) or not NAME.match(values["name"]):
            raise XltError("a task spec needs a 'name' of letters, digits, '_' and '-'")
        check_language_codes(values.get("languages", ()), f"task spec {values['name']!r} field 'languages'")
        values.setdefault("local_dir", values["name"])
        values.setdefault("hub_dataset", "")
        values.setdefault("description", "")
        for key in ("description", "local_dir", "hub_dataset", "label_field", "train_split", "eval_split",
                    "metric", "source_note"):  # a number here was a traceback where the field is used
            if key in values and not isinstance(values[key], str):
                raise XltError(f"task spec field {key!r} must be a string, got {type(values[key]).__name__}")
        if "parallel" in values and not isinstance(values["parallel"], bool):
            raise XltError("task spec field 'parallel' must be true or false")
        if "hub_configs" in values and not (isinstance(values["hub_configs"], dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in values["hub_configs"].items())):
            raise XltError("task spec field 'hub_configs' must map language codes to config names")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise XltError(f"task spec {values['name']!r}: {exc}") from None


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TASKS: Registry[TaskSpec] = Registry("task")


def register_task(spec: TaskSpec) -> TaskSpec:
    return TASKS.register(spec.name, spec)


def load_task_file(path: str | Path) -> TaskSpec:
    """Read a task spec from a YAML or JSON file and register it (once per name)."""
    import yaml

    from ..yaml_files import load_yaml, yaml_problem

    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise XltError(f"cannot read task file {path}: {yaml_problem(exc)}") from None
    spec = TaskSpec.from_dict(data)
    return ensure_registered(spec, str(path))


def ensure_registered(spec: TaskSpec, where: str = "") -> TaskSpec:
    """Register `spec`, or return the registered one of that name when it is the same spec."""
    if spec.name in TASKS:
        known = TASKS.get(spec.name)
        if known != spec:
            raise XltError(f"task {spec.name!r} {('from ' + where + ' ') if where else ''}differs from the registered "
                           "task of that name; rename it")
        return known
    return register_task(spec)


def task_search_path() -> list[Path]:
    """Folders of task spec files (`XLT_TASK_PATH`, os.pathsep-separated), like lm-eval's include path."""
    return [Path(p).expanduser() for p in os.environ.get("XLT_TASK_PATH", "").split(os.pathsep) if p.strip()]


def get_task(name: str) -> TaskSpec:
    """A registered task, a task file (`my_task.yaml`), or `<name>.yaml` in a folder of `XLT_TASK_PATH`."""
    if name in TASKS:
        return TASKS.get(name)
    if isinstance(name, str) and name.endswith((".yaml", ".yml", ".json")):
        if Path(name).is_file():
            return load_task_file(name)
        if Path(name).exists():
            raise XltError(f"task file {name} is a folder: give a YAML or JSON task spec file")
        raise XltError(f"task file {name} does not exist (a registered task name or a task spec file)")
    if isinstance(name, str) and name not in TASKS and Path(name).is_dir():
        raise XltError(f"task {name} is a folder: give a task name or a YAML or JSON task spec file")
    if isinstance(name, str) and NAME.match(name):
        for folder in task_search_path():
            for suffix in (".yaml", ".yml", ".json"):
                if (folder / f"{name}{suffix}").is_file():
                    return load_task_file(folder / f"{name}{suffix}")
    return TASKS.get(name)  # the "unknown task" message


def task_for_model(info) -> TaskSpec:
    """The task a saved model was trained for: registered, else the spec the model carries with it."""
    if info.task in TASKS:
        return TASKS.get(info.task)
    spec = (getattr(info, "extra", None) or {}).get("task_spec")
    if spec:
        return ensure_registered(TaskSpec.from_dict(spec), "the model folder")
    return get_task(info.task)
