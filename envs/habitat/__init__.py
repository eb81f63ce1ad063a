"""Habitat adapter: habitat-sim scenes and habitat-lab episodes (PointNav, ObjectNav, VLN-R2R) as vla/Habitat-v0.

Importing this package never imports habitat-sim: the episode parsers, the sensor maths and the
schema work anywhere; only constructing the env needs habitat-sim (conda), usually in its own
environment behind the env server (vla.envs.server).
"""

from .config import HabitatConfig
from .episodes import NavEpisode, NavGoal, load_episodes, parse_dataset
from .schema import ACTION_NAMES, MOVE_FORWARD, OBS_IMAGE_DEPTH, OBS_IMAGE_RGB, STOP, TURN_LEFT, TURN_RIGHT

__all__ = [
    "ACTION_NAMES",
    "MOVE_FORWARD",
    "OBS_IMAGE_DEPTH",
    "OBS_IMAGE_RGB",
    "STOP",
    "TURN_LEFT",
    "TURN_RIGHT",
    "HabitatConfig",
    "NavEpisode",
    "NavGoal",
    "load_episodes",
    "parse_dataset",
]
