"""Typed configuration of vla/Habitat-v0. Defaults per task follow the Habitat challenge settings."""

from __future__ import annotations

from dataclasses import dataclass

from vla.errors import VlaUserError, did_you_mean

from ..image_size import image_hw
from .episodes import TASK_TYPES

# per task: (turn angle in degrees, success distance in m, max episode steps)
TASK_DEFAULTS: dict[str, tuple[float, float, int]] = {
    "pointnav": (10.0, 0.2, 500),  # habitat-lab pointnav: 10 deg turns, 0.2 m to the goal
    "objectnav": (30.0, 0.1, 500),  # ObjectNav challenge: 0.1 m to a view point of the object
    "vln": (15.0, 3.0, 500),  # VLN-CE R2R: 3 m to the goal
}


@dataclass(frozen=True)
class HabitatConfig:
    dataset: str
    """habitat-lab episode file (PointNav, ObjectNav or VLN-CE R2R; .json or .json.gz), e.g.
    data/datasets/pointnav/gibson/v2/val/val.json.gz; per-scene files under content/ are read too."""
    scenes_dir: str = "data/scene_datasets"
    """Folder the episodes' scene ids are relative to (habitat-lab's default)."""
    task: str = "auto"
    """auto (from the file), pointnav, objectnav or vln."""
    scenes: tuple[str, ...] = ()
    """Only episodes in these scenes (names such as '17DRP5sb8fy'); empty: all."""
    image_size: int | tuple[int, int] = 128
    """RGB and depth resolution: an int for square images or (height, width)."""
    hfov: float = 79.0
    """Horizontal field of view of both cameras, degrees (Habitat challenge setting)."""
    sensor_height: float = 0.88
    """Camera height above the agent's base, m."""
    forward_step: float = 0.25
    """MOVE_FORWARD distance, m."""
    turn_angle: float | None = None
    """TURN_LEFT/RIGHT angle in degrees; None: the task's default (TASK_DEFAULTS)."""
    success_distance: float | None = None
    """Geodesic distance to the goal at STOP that counts as success, m; None: the task's default."""
    max_episode_steps: int | None = None
    """Steps before truncation; None: the task's default."""
    max_depth: float = 10.0
    """Depth images encode 0..max_depth metres as 0..255, as the MuJoCo navigation suite does."""
    egomap: bool = False
    """Add `observation.images.egomap`, the top-down map the MuJoCo suite's egomap=True draws from depth, GPS
    and compass (for checkpoints trained with `vla collect --egomap`)."""
    egomap_window: float = 8.0
    """Metres the egocentric map spans, as NavConfig.egomap_window."""
    reward_shaping: bool = False
    """False: reward 1.0 on a successful STOP, else 0 (as the MuJoCo suite). True: habitat-lab's PointNav
    reward, -0.01 per step + decrease of the geodesic distance to the goal + 2.5 on success."""
    gpu_device_id: int = 0

    def __post_init__(self) -> None:
        if self.task not in ("auto", *TASK_TYPES):
            hint = did_you_mean(self.task, TASK_TYPES)
            raise VlaUserError(f"unknown Habitat task '{self.task}'{hint}; choose auto, {', '.join(TASK_TYPES)}")
        h, w = self.image_hw
        if not (16 <= h <= 2048 and 16 <= w <= 2048):
            raise VlaUserError(f"image size {h}x{w} is out of range; use 16..2048 pixels per side (e.g. 128)")
        if self.max_depth <= 0:
            raise VlaUserError(f"max_depth={self.max_depth} must be positive (metres)")
        if not 2.0 <= self.egomap_window <= 40.0:
            raise VlaUserError(f"egomap_window={self.egomap_window} m is out of range; use 2..40 m")
        if self.forward_step <= 0 or (self.turn_angle is not None and self.turn_angle <= 0):
            raise VlaUserError("forward_step and turn_angle must be positive")

    @property
    def image_hw(self) -> tuple[int, int]:
        return image_hw(self.image_size)

    def for_task(self, task: str) -> tuple[float, float, int]:
        """(turn angle deg, success distance m, max steps) with the task's defaults filled in."""
        turn, success, steps = TASK_DEFAULTS[task]
        return (
            self.turn_angle if self.turn_angle is not None else turn,
            self.success_distance if self.success_distance is not None else success,
            self.max_episode_steps if self.max_episode_steps is not None else steps,
        )
