"""Typed configuration of the tabletop manipulation envs, validated with actionable errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vla.errors import VlaUserError, did_you_mean

from ..image_size import MAX_IMAGE, MIN_IMAGE, image_hw
from .props import SPLITS


@dataclass(frozen=True)
class TabletopConfig:
    tasks: tuple[str, ...] = ("pick",)
    """Tasks to sample from at each reset (one task: a single-task env)."""
    image_size: int | tuple[int, int] = 96
    """Camera resolution: an int for square images or (height, width)."""
    split: str = "train"
    """'train' or 'heldout': colour-shape combinations and instruction wordings to draw from."""
    instruction: str | None = None
    """Override the instruction: a literal string, or a template such as 'grab the {colour} {object}'."""
    control: Literal["ee_delta", "joint"] = "ee_delta"
    """'ee_delta': tool-centre delta pose + gripper; 'joint': absolute joint targets + gripper."""
    control_hz: int = 10
    """Control (and dataset) rate. Physics runs at 500 Hz."""
    randomize_visuals: bool = True
    """Jitter lighting and the scene camera pose per episode."""
    render_size: int = 256
    """Resolution of env.render() frames (the scene camera), for videos."""

    def __post_init__(self) -> None:
        from .tasks import TASKS, get_task

        if not self.tasks:
            raise VlaUserError("no task given; choose from: " + ", ".join(TASKS))
        for t in self.tasks:
            get_task(t)  # raises with a did-you-mean
        h, w = self.image_hw
        if not (MIN_IMAGE <= h <= MAX_IMAGE and MIN_IMAGE <= w <= MAX_IMAGE):
            raise VlaUserError(
                f"image size {h}x{w} is out of range; use {MIN_IMAGE}..{MAX_IMAGE} pixels per side (e.g. 96)"
            )
        if self.split not in SPLITS:
            raise VlaUserError(f"unknown split '{self.split}'{did_you_mean(self.split, SPLITS)}; use train or heldout")
        if self.control not in ("ee_delta", "joint"):
            raise VlaUserError(f"unknown control mode '{self.control}'; use ee_delta or joint")
        if not (1 <= self.control_hz <= 100) or 500 % self.control_hz:
            raise VlaUserError(f"control_hz={self.control_hz} must divide the 500 Hz physics rate (e.g. 10, 20, 50)")
        if not (MIN_IMAGE <= self.render_size <= MAX_IMAGE):
            raise VlaUserError(f"render_size={self.render_size} is out of range; use {MIN_IMAGE}..{MAX_IMAGE}")

    @property
    def image_hw(self) -> tuple[int, int]:
        return image_hw(self.image_size)
