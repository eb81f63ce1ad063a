"""The navigation schema, as the MuJoCo navigation suite (envs/navigation/nav_env.py) defines it.

Repeated here rather than imported because nav_env.py pulls in MuJoCo and scipy, which the Habitat
conda env does not need; tests/envs/test_habitat_env.py checks every value against nav_env.py, so
a policy trained in the MuJoCo houses reads Habitat observations unchanged.
"""

from __future__ import annotations

import string

from vla.constants import OBS_STATE, TASK  # re-exported: the schema's other two keys

OBS_IMAGE_RGB = "observation.images.rgb"  # uint8 (H, W, 3)
OBS_IMAGE_DEPTH = "observation.images.depth"  # uint8 (H, W, 3) grey: metres = value / 255 * max_depth
OBS_IMAGE_EGOMAP = "observation.images.egomap"  # uint8 (H, W, 3) grey, with egomap=True (navigation/egomap.py)

# Discrete actions, numbered as in habitat-lab.
STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT = 0, 1, 2, 3
ACTION_NAMES: tuple[str, ...] = ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT")
SIM_ACTIONS = {MOVE_FORWARD: "move_forward", TURN_LEFT: "turn_left", TURN_RIGHT: "turn_right"}  # habitat-sim's

# observation.state, float32: PointNav (5) = pointgoal_with_gps_compass (rho m, phi rad, + to the left)
# + GPS (x ahead, y left, m, in the start frame) + compass (rad, + turned left); other tasks (3) = GPS + compass.
POINTNAV_STATE_NAMES: tuple[str, ...] = ("pointgoal.rho", "pointgoal.phi", "gps.x", "gps.y", "compass")
STATE_NAMES: tuple[str, ...] = ("gps.x", "gps.y", "compass")
MAX_RANGE = 100.0  # m; bound of GPS and rho (values are clipped to the observation space)

INSTRUCTION_CHARSET = string.printable  # instructions are normalised to printable ASCII
MAX_INSTRUCTION = 1024  # characters (the MuJoCo suite's are under 256; VLN-CE R2R's under 700)
POINTNAV_INSTRUCTION = "go to the goal point"
OBJECTNAV_TEMPLATE = "find {article} {category}"

__all__ = [
    "ACTION_NAMES", "INSTRUCTION_CHARSET", "MAX_INSTRUCTION", "MAX_RANGE", "MOVE_FORWARD", "OBJECTNAV_TEMPLATE",
    "OBS_IMAGE_DEPTH", "OBS_IMAGE_EGOMAP", "OBS_IMAGE_RGB", "OBS_STATE", "POINTNAV_INSTRUCTION", "POINTNAV_STATE_NAMES",
    "SIM_ACTIONS", "STATE_NAMES", "STOP", "TASK", "TURN_LEFT", "TURN_RIGHT",
]  # fmt: skip
