"""Incoming robot commands -> the env's per-step action, with the hold/timeout rules of the sim.

Plain Python (no rclpy) so the rules are unit-testable. Callbacks call `set_*` (cheap, thread-safe);
the sim loop calls `action()` once per step.

- ee_delta: the twist (m/s, rad/s) times the control period is the step's tool displacement / yaw change.
  A twist is applied for at most one period after it arrived; with none fresher, the arm holds (zero delta).
- joint: the last /joint_command targets are held (they are absolute), starting from the current joints.
- gripper: absolute in [-1, 1]; the last command is held (the env starts each episode open, -1).
- estop: while true, arm commands are ignored (hold) and the gripper keeps its last command.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

GRIPPER_OPEN = -1.0


@dataclass
class _Arm:
    values: np.ndarray  # ee_delta: (vx, vy, vz, wz); joint: 5 targets
    received: float  # time.monotonic() of arrival
    stamp_ns: int  # header stamp (0 when unset)


class CommandBuffer:
    def __init__(self, control: str, period_s: float):
        self.control, self.period_s = control, period_s
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._arm: _Arm | None = None
        self._arm_fresh = False  # an arm command arrived since the last step
        self._gripper = GRIPPER_OPEN
        self._gripper_fresh = False
        self._estop = False

    # ------------------------------------------------------------------ from callbacks
    def set_twist(self, linear: tuple[float, float, float], angular_z: float, stamp_ns: int = 0) -> None:
        self._set_arm(np.array([*linear, angular_z], dtype=np.float64), stamp_ns)

    def set_joint_targets(self, targets: np.ndarray, stamp_ns: int = 0) -> None:
        self._set_arm(np.asarray(targets, dtype=np.float64).copy(), stamp_ns)

    def _set_arm(self, values: np.ndarray, stamp_ns: int) -> None:
        with self._lock:
            if self._estop or not np.all(np.isfinite(values)):
                return
            self._arm = _Arm(values, time.monotonic(), stamp_ns)
            self._arm_fresh = True
            self._new.notify_all()

    def set_gripper(self, value: float) -> None:
        with self._lock:
            if np.isfinite(value):
                self._gripper = float(np.clip(value, -1.0, 1.0))
                self._gripper_fresh = True
                self._new.notify_all()

    def set_estop(self, on: bool) -> None:
        with self._lock:
            self._estop = bool(on)
            if on:
                self._arm, self._arm_fresh = None, False
            self._new.notify_all()

    @property
    def estop(self) -> bool:
        return self._estop

    # ------------------------------------------------------------------ from the sim loop
    def reset(self) -> None:
        """A new episode: forget arm commands, open the gripper (what env.reset does)."""
        with self._lock:
            self._arm, self._arm_fresh = None, False
            self._gripper, self._gripper_fresh = GRIPPER_OPEN, False

    def wait_lockstep(self, min_stamp_ns: int, gripper_wait_s: float, timeout_s: float) -> bool:
        """Block until an arm command stamped at or after `min_stamp_ns` (or unstamped) has arrived, plus a
        gripper command (waiting at most `gripper_wait_s` more for it). False on timeout or estop."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self._arm_fresh and self._arm is not None and 0 < self._arm.stamp_ns < min_stamp_ns:
                    self._arm_fresh = False  # computed from an older observation: drop it
                if self._arm_fresh and not self._estop:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._new.wait(left)
            grip_deadline = time.monotonic() + gripper_wait_s
            while not self._gripper_fresh and (left := grip_deadline - time.monotonic()) > 0:
                self._new.wait(left)
            return True

    def action(self, current_joints: np.ndarray | None = None) -> np.ndarray:
        """The env action for this step (float32), consuming the fresh flags."""
        with self._lock:
            arm, fresh = self._arm, self._arm_fresh
            self._arm_fresh = self._gripper_fresh = False
            gripper = self._gripper
            estop = self._estop
        if self.control == "ee_delta":
            delta = np.zeros(4)
            recent = arm is not None and (fresh or time.monotonic() - arm.received <= self.period_s)
            if recent and not estop:
                delta = arm.values * self.period_s
            return np.array([*delta, gripper], dtype=np.float32)
        # joint: absolute targets; with none (or under estop) hold the joints where they are now
        targets = current_joints if (arm is None or estop) and current_joints is not None else None
        if targets is None:
            targets = arm.values if arm is not None else np.zeros(5)
        return np.array([*targets, gripper], dtype=np.float32)
