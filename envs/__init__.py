"""Simulated environments. Importing this package registers every gymnasium id (see registration.py)."""

from .manipulation.tasks import TASKS
from .registration import MANIPULATION_IDS, NAV_TASK_TO_ID, NAVIGATION_IDS, TASK_TO_ID, make_env, register_all

register_all()

TASK_NAMES: tuple[str, ...] = tuple(TASKS)  # the tabletop tasks ('all' in collect / eval)
NAV_TASK_NAMES: tuple[str, ...] = tuple(NAV_TASK_TO_ID)  # the navigation suite

__all__ = [
    "MANIPULATION_IDS",
    "NAVIGATION_IDS",
    "NAV_TASK_NAMES",
    "NAV_TASK_TO_ID",
    "TASK_NAMES",
    "TASK_TO_ID",
    "make_env",
    "register_all",
]
