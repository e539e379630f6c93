"""Declarative task specs: where the data lives, which fields, labels, languages, metric."""

from __future__ import annotations

from dataclasses import dataclass, field

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


TASKS: Registry[TaskSpec] = Registry("task")


def register_task(spec: TaskSpec) -> TaskSpec:
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    return TASKS.get(name)
