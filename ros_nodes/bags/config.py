"""Typed configuration of `vla convert-bag`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from vla.errors import VlaUserError


@dataclass
class ConvertBagConfig:
    """Convert a rosbag2 (MCAP or sqlite3) teleoperation or rollout recording into a LeRobotDataset v3
    that `vla train` reads: both cameras, observation.state, the commanded action and the instruction."""

    bag: tyro.conf.Positional[Path]
    """rosbag2 directory (with metadata.yaml) or a single .mcap file."""
    out: Path
    """New dataset root directory (must not exist or be empty)."""
    fps: int = 10
    """Control rate of the recording: twist commands (m/s) times 1/fps are the per-step action."""
    task_topic: str = "/instruction"
    """std_msgs/String topic with the instruction (the latest one before a frame is its task)."""
    task: str | None = None
    """Instruction for every frame when the bag has no --task-topic messages."""
    action: Literal["auto", "ee_delta", "joint"] = "auto"
    """Action space: 'auto' picks ee_delta if the bag has /ee_command messages, else joint."""
    max_gap_s: float = 1.0
    """A longer pause between observations starts a new episode (as does a /sim/reset message)."""
    min_frames: int = 2
    """Drop episodes shorter than this."""
    repo_id: str | None = None
    """Dataset repo id in the metadata; default 'local/<out dir name>'."""
    vcodec: Literal["h264", "hevc", "libsvtav1"] = "h264"

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 1000:
            raise VlaUserError(f"--fps must be in 1..1000, got {self.fps}")
        if self.max_gap_s <= 0:
            raise VlaUserError(f"--max-gap-s must be > 0, got {self.max_gap_s}")
        if self.min_frames < 1:
            raise VlaUserError(f"--min-frames must be >= 1, got {self.min_frames}")
        if self.repo_id is not None and self.repo_id.count("/") != 1:
            raise VlaUserError(f"--repo-id must look like 'owner/name', got {self.repo_id!r}")
