"""Typed configuration of `vla sim-robot` and the sim-only topics it adds to the shared contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vla.errors import VlaUserError

PHYSICS_HZ = 500


@dataclass(frozen=True)
class SimTopics:
    """Topics only the simulated robot has (the robot/policy contract is `common.topics.TopicNames`)."""

    clock: str = "/clock"
    """rosgraph_msgs/Clock: sim time, advanced by one control period per step."""
    reset: str = "/sim/reset"
    """std_msgs/Int64: reset the env with this seed and start a new episode."""
    episode: str = "/sim/episode"
    """diagnostic_msgs/DiagnosticStatus, latched: episode, seed, step, success, done, task, instruction."""


@dataclass
class SimRobotConfig:
    """Run a tabletop task as a ROS 2 robot: publishes cameras, joint states, tool pose, /clock and the
    instruction; applies /ee_command + /gripper_command (or /joint_command); resets on /sim/reset."""

    task: str = "pick"
    """Task name (pick, place, push, stack), a comma list, or 'all' (a task sampled per episode)."""
    seed: int = 0
    """Seed of the first episode (later episodes: publish the seed on /sim/reset)."""
    image_size: int = 96
    """Camera height and width in pixels."""
    rate_hz: int = 10
    """Control rate: one env step per period (must divide the 500 Hz physics rate)."""
    split: Literal["train", "heldout"] = "train"
    control: Literal["ee_delta", "joint"] = "ee_delta"
    """'ee_delta': /ee_command twist + /gripper_command; 'joint': /joint_command + /gripper_command."""
    lockstep: bool = False
    """Step only when a command arrives (one step per command; deterministic eval) instead of on the wall clock."""
    lockstep_gripper_wait_s: float = 0.2
    """Lockstep: after an arm command, wait this long for the matching /gripper_command before stepping."""
    republish_s: float = 1.0
    """Lockstep: republish the current observation when no command came for this long (late subscribers)."""
    record: Path | None = None
    """Also record every contract topic into this rosbag2 (MCAP) directory."""
    node_name: str = "vla_sim_robot"

    def __post_init__(self) -> None:
        if not (1 <= self.rate_hz <= 100) or PHYSICS_HZ % self.rate_hz:
            raise VlaUserError(f"--rate-hz {self.rate_hz} must divide the {PHYSICS_HZ} Hz physics rate (e.g. 10, 20)")
        if self.lockstep_gripper_wait_s < 0 or self.republish_s <= 0:
            raise VlaUserError("--lockstep-gripper-wait-s must be >= 0 and --republish-s > 0")
        if self.record is not None and self.record.exists():
            raise VlaUserError(f"--record {self.record} already exists; choose a new bag directory")

    @property
    def period_ns(self) -> int:
        return 10**9 // self.rate_hz
