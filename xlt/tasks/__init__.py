"""Task registry. Adding a task (PAWS-X, a new language) is a new `TaskSpec`, not new code."""

from . import builtin  # noqa: F401  (registers the shipped tasks)
from .spec import METRICS, TASKS, TaskSpec, get_task, load_task_file, register_task, task_for_model

__all__ = ["METRICS", "TASKS", "TaskSpec", "get_task", "load_task_file", "register_task", "task_for_model"]
