"""Simulated environments. Importing this package registers every gymnasium id (see registration.py).

It imports neither MuJoCo nor any suite: entry points are strings, so an env server for Habitat (its own
Python environment, without MuJoCo) can import vla.envs.
"""

from .registration import MANIPULATION_IDS, NAV_TASK_TO_ID, NAVIGATION_IDS, TASK_TO_ID, make_env, register_all

register_all()

TASK_NAMES: tuple[str, ...] = MANIPULATION_IDS["vla/TabletopMultiTask-v0"]  # the tabletop tasks ('all')
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
