"""The latest observation of each input topic, checked on arrival and for freshness at control time.

Subscription callbacks only decode, validate and store (short callbacks keep the executor responsive).
A malformed message (bad encoding, wrong data length, unknown joints, NaN) marks its input invalid until
a good one arrives, so the control loop holds rather than act on an older observation, and produces a
throttled warning saying why. Images of another size than the checkpoint's are accepted: the policy
resizes them (bilinear, antialiased) like it does for env observations.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla.ros_nodes.common.image import ImageError, image_to_numpy

from .state import ToolPose, joint_positions, tool_pose_from_msg


@dataclass
class Sample:
    value: Any  # decoded payload (image array, joint positions, ToolPose)
    received: float  # time.monotonic() at arrival
    stamp_ns: int  # header stamp (0 = none)


class InputSlot:
    """One input topic: latest good sample, or the reason the latest message was rejected."""

    def __init__(self, name: str, topic: str):
        self.name, self.topic = name, topic
        self._lock = threading.Lock()
        self._sample: Sample | None = None
        self._error: str | None = None
        self.rejected = 0

    def store(self, value: Any, stamp_ns: int) -> None:
        with self._lock:
            self._sample, self._error = Sample(value, time.monotonic(), stamp_ns), None

    def reject(self, reason: str) -> None:
        with self._lock:
            self._error = reason
            self.rejected += 1

    def latest(self) -> tuple[Sample | None, str | None]:
        """(latest good sample, reason the latest message was rejected or None), without freshness checks."""
        with self._lock:
            return self._sample, self._error

    def check(self, now: float, ros_now_ns: int, timeout_s: float, max_stamp_age_s: float) -> tuple[Any, str | None]:
        """(sample, None) when usable now, else (None, reason to hold)."""
        with self._lock:
            sample, error = self._sample, self._error
        if error is not None:
            return None, f"{self.topic}: {error}"
        if sample is None:
            return None, f"no message on {self.topic} yet"
        age = now - sample.received
        if age > timeout_s:
            return None, f"{self.topic} silent for {age:.2f} s (obs_timeout_s={timeout_s})"
        if max_stamp_age_s > 0:
            if sample.stamp_ns == 0:
                return None, f"{self.topic} header stamp is zero (set it, or max_stamp_age_s=0 to skip the check)"
            stamp_age = (ros_now_ns - sample.stamp_ns) * 1e-9
            if stamp_age > max_stamp_age_s:
                return None, f"{self.topic} header stamp is {stamp_age:.2f} s old (max_stamp_age_s={max_stamp_age_s})"
        return sample, None


def _stamp_ns(msg: Any) -> int:
    s = msg.header.stamp
    return int(s.sec) * 1_000_000_000 + int(s.nanosec)


def on_image(slot: InputSlot, msg: Any) -> str | None:
    """Decode and store an Image; return the rejection reason (for a throttled warning) or None."""
    try:
        img = image_to_numpy(msg)
    except ImageError as e:
        slot.reject(str(e))
        return str(e)
    slot.store(img, _stamp_ns(msg))
    return None


def on_joint_state(slot: InputSlot, msg: Any, joint_names: list[str]) -> str | None:
    try:
        q = joint_positions(list(msg.name), list(msg.position), joint_names)
    except ValueError as e:
        slot.reject(str(e))
        return str(e)
    slot.store(q, _stamp_ns(msg))
    return None


def on_tool_pose(slot: InputSlot, msg: Any) -> str | None:
    try:
        pose = tool_pose_from_msg(msg.pose)
    except ValueError as e:
        slot.reject(str(e))
        return str(e)
    slot.store(pose, _stamp_ns(msg))
    return None


@dataclass(frozen=True)
class Observation:
    """A consistent snapshot of all inputs, taken on the control thread."""

    images: dict[str, np.ndarray]  # LeRobot key -> uint8 (H, W, 3)
    joints: np.ndarray
    tool: ToolPose | None
    received: float  # time.monotonic() arrival of the oldest input in the snapshot
    valid_until: float = float("inf")  # time.monotonic() at which the first input gets too old (timeout or stamp)
