"""Task registry. Add a task by subclassing Task and calling register_task (no library edits needed)."""

from __future__ import annotations

from vla.errors import unknown_name_error

from .base import Episode, Task
from .pick import PickTask
from .place import PlaceTask
from .push import PushTask
from .stack import StackTask

TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASKS[cls.name] = cls
    return cls


for _cls in (PickTask, PlaceTask, PushTask, StackTask):
    register_task(_cls)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise unknown_name_error("task", name, TASKS)
    return TASKS[name]()


__all__ = ["TASKS", "Episode", "Task", "get_task", "register_task"]
