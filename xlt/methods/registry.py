"""Method registry: each transfer method registers `name -> (Config, run)` in its own module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import Registry


@dataclass
class MethodContext:
    """Everything a method's `run` needs, resolved from the experiment config."""

    experiment: Any  # ExperimentConfig (kept untyped to avoid an import cycle)
    task: Any  # TaskSpec
    model_spec: Any  # ModelSpec
    method_config: Any  # the method's own Config dataclass
    output_dir: Path
    data_dir: Path | None = None
    callbacks: list = field(default_factory=list)


@dataclass(frozen=True)
class MethodSpec:
    """A transfer method: its options dataclass and the function that trains a classifier."""

    name: str
    config_cls: type
    run: Callable[[MethodContext], Any]  # returns a TrainedClassifier
    description: str
    when_to_use: str = ""
    multi_source: bool = False


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, config_cls: type, run: Callable[[MethodContext], Any], description: str,
                    when_to_use: str = "", multi_source: bool = False) -> MethodSpec:
    return METHODS.register(name, MethodSpec(name, config_cls, run, description, when_to_use, multi_source))


def get_method(name: str) -> MethodSpec:
    return METHODS.get(name)
