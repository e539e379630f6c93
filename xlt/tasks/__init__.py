"""Task registry. Adding a task (PAWS-X, a new language) is a new `TaskSpec`, not new code."""

from . import builtin  # noqa: F401  (registers the shipped tasks)
from .spec import METRICS, TASKS, TaskSpec, get_task, register_task

__all__ = ["METRICS", "TASKS", "TaskSpec", "get_task", "register_task"]
