"""Simulated environments. Importing this package registers every gymnasium id (see registration.py)."""

from .manipulation.tasks import TASKS
from .registration import MANIPULATION_IDS, TASK_TO_ID, make_env, register_all

register_all()

TASK_NAMES: tuple[str, ...] = tuple(TASKS)

__all__ = ["MANIPULATION_IDS", "TASK_NAMES", "TASK_TO_ID", "make_env", "register_all"]
