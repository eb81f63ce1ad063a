"""Typed configuration of the navigation envs, validated with one-line errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from vla.errors import VlaUserError

from ..image_size import MAX_IMAGE, MIN_IMAGE, image_hw
from .splits import resolve_split

ACTION_TYPES = ("discrete", "velocity")


@dataclass(frozen=True)
class DiscreteActions:
    """Habitat's discrete action set: STOP=0, MOVE_FORWARD=1, TURN_LEFT=2, TURN_RIGHT=3."""

    forward_step: float = 0.25
    """Metres moved by MOVE_FORWARD (Habitat's default)."""
    turn_angle: float = 30.0
    """Degrees turned by TURN_LEFT / TURN_RIGHT (Habitat's PointNav default)."""


@dataclass(frozen=True)
class VelocityActions:
    """Continuous body velocity [forward m/s, yaw rate rad/s], held for one control period.

    As in habitat-lab's VelocityAction, commanding both speeds below the thresholds calls STOP.
    """

    max_forward: float = 1.0
    """m/s; at 4 Hz one step moves at most 0.25 m, as MOVE_FORWARD does."""
    max_backward: float = 0.0
    """m/s the base may reverse (0: forward only, like the discrete set)."""
    max_yaw_rate: float = math.radians(120.0)
    """rad/s; at 4 Hz one step turns at most 30 degrees, as TURN_LEFT does."""
    stop_forward: float = 0.025
    """|forward| below this (m/s) ..."""
    stop_yaw_rate: float = math.radians(10.0)
    """... and |yaw rate| below this (rad/s) means STOP (habitat-lab's min_abs_lin/ang_speed)."""


@dataclass(frozen=True)
class NavConfig:
    task: str = "pointnav"
    """pointnav, objectnav or instructnav (see tasks.py)."""
    action_type: Literal["discrete", "velocity"] = "discrete"
    """'discrete': Habitat's STOP / MOVE_FORWARD / TURN_LEFT / TURN_RIGHT; 'velocity': [forward, yaw rate]."""
    discrete: DiscreteActions = DiscreteActions()
    velocity: VelocityActions = VelocityActions()
    image_size: int | tuple[int, int] = 96
    """Camera resolution: an int for square images or (height, width)."""
    split: str = "train"
    """Layout seeds to draw houses from: train, val or test ('heldout' = test)."""
    max_steps: int = 500
    """Episode time limit in steps (Habitat's default)."""
    control_hz: int = 4
    """Steps per second of simulated time (velocity actions are held for 1/control_hz s; dataset fps)."""
    success_distance: float = 0.2
    """PointNav: STOP closer than this geodesic distance (m) to the goal succeeds."""
    view_radius: float = 1.0
    """ObjectNav / InstructNav: STOP on navigable floor within this distance (m) of a goal object, in its room."""
    max_depth: float = 10.0
    """Depth images encode 0..max_depth metres as 0..255 (see depth.py)."""
    render_size: int = 256
    """Resolution of env.render() frames (the egocentric camera), for videos."""
    egomap: bool = False
    """Add `observation.images.egomap`: a top-down map around the agent built from its own depth, GPS and
    compass over the episode (explored floor, obstacles, its trail; the PointNav goal), see egomap.py."""
    semantic_map: bool = False
    """ObjectNav / InstructNav: add `observation.images.semantic_map`, the same map plus, in the goal grey
    level, where the camera has seen the episode's goal objects (from ground-truth segmentation, like
    Habitat's SEMANTIC sensor: privileged compared with the RGB-D-only ObjectNav challenge)."""
    egomap_window: float = 8.0
    """Metres the egocentric map spans (the agent sees half of it ahead and half behind)."""

    def __post_init__(self) -> None:
        from .tasks import get_task

        task = get_task(self.task)  # raises with a did-you-mean
        if self.semantic_map and task.uses_pointgoal:
            raise VlaUserError(
                f"semantic_map marks where goal objects were seen; {self.task} has a goal point, not objects "
                f"(its egomap already shows the goal): use egomap"
            )
        if self.action_type not in ACTION_TYPES:
            raise VlaUserError(f"unknown action_type '{self.action_type}'; use discrete or velocity")
        h, w = self.image_hw
        if not (MIN_IMAGE <= h <= MAX_IMAGE and MIN_IMAGE <= w <= MAX_IMAGE):
            raise VlaUserError(f"image size {h}x{w} is out of range; use {MIN_IMAGE}..{MAX_IMAGE} pixels per side")
        object.__setattr__(self, "split", resolve_split(self.split))
        if self.max_steps < 1:
            raise VlaUserError(f"max_steps={self.max_steps} must be at least 1")
        if not 1 <= self.control_hz <= 100:
            raise VlaUserError(f"control_hz={self.control_hz} must be in 1..100")
        if not (0 < self.success_distance and 0 < self.view_radius and 0 < self.max_depth):
            raise VlaUserError("success_distance, view_radius and max_depth must be positive")
        if not (0 < self.discrete.forward_step <= 1.0 and 0 < self.discrete.turn_angle <= 180):
            raise VlaUserError("discrete forward_step must be in (0, 1] m and turn_angle in (0, 180] degrees")
        v = self.velocity
        if not (v.max_forward > 0 and v.max_backward >= 0 and v.max_yaw_rate > 0):
            raise VlaUserError("velocity max_forward and max_yaw_rate must be positive, max_backward >= 0")
        if not 2.0 <= self.egomap_window <= 40.0:
            raise VlaUserError(f"egomap_window={self.egomap_window} m is out of range; use 2..40 m")
        if not MIN_IMAGE <= self.render_size <= MAX_IMAGE:
            raise VlaUserError(f"render_size={self.render_size} is out of range; use {MIN_IMAGE}..{MAX_IMAGE}")

    @property
    def image_hw(self) -> tuple[int, int]:
        return image_hw(self.image_size)
