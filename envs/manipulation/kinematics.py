"""Closed-form inverse kinematics of the tabletop arm for a tool pointing straight down.

The arm is pan / lift / elbow / wrist-pitch / wrist-roll. With the tool pointing down, a tool-centre
position plus a yaw fixes all five joints (elbow up), so the end-effector controller never iterates.
Link lengths are read from the compiled model, so editing robot.xml cannot desynchronise them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

ARM_JOINTS: tuple[str, ...] = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll")
FINGER_JOINTS: tuple[str, ...] = ("finger_left", "finger_right")


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def wrap_half_turn(a: float) -> float:
    """A parallel gripper is symmetric under a half turn: map a yaw to [-pi/2, pi/2)."""
    return (a + math.pi / 2) % math.pi - math.pi / 2


@dataclass(frozen=True)
class ArmGeometry:
    shoulder_height: float  # lift axis above the base (m)
    upper_arm: float  # lift axis to elbow axis (m)
    forearm: float  # elbow axis to wrist-pitch axis (m)
    tool: float  # wrist-pitch axis to tool centre point (m)

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> ArmGeometry:
        def offset(body: str) -> float:
            return float(model.body(body).pos[2])

        tcp = float(model.site("tcp").pos[2])
        return cls(
            shoulder_height=offset("link1") + offset("link2"),
            upper_arm=offset("link3"),
            forearm=offset("link4"),
            tool=offset("hand") + tcp,
        )

    def inverse(self, pos: np.ndarray, yaw: float) -> np.ndarray:
        """Joint angles (5,) that put the tool centre at `pos` (base frame, m), pointing down, at `yaw` (rad)."""
        x, y, z = float(pos[0]), float(pos[1]), float(pos[2])
        pan = math.atan2(y, x)
        r = math.hypot(x, y)
        zw = z + self.tool - self.shoulder_height
        l1, l2 = self.upper_arm, self.forearm
        d2 = r * r + zw * zw
        cos_elbow = (d2 - l1 * l1 - l2 * l2) / (2 * l1 * l2)
        elbow = math.acos(min(1.0, max(-1.0, cos_elbow)))
        lift = math.atan2(r, zw) - math.atan2(l2 * math.sin(elbow), l1 + l2 * math.cos(elbow))
        pitch = math.pi - lift - elbow
        roll = wrap_angle(pan - yaw)
        return np.array([pan, lift, elbow, pitch, roll])

    def reachable(self, pos: np.ndarray) -> bool:
        r = math.hypot(pos[0], pos[1])
        zw = pos[2] + self.tool - self.shoulder_height
        return math.hypot(r, zw) < self.upper_arm + self.forearm - 1e-3


def tool_yaw(xmat: np.ndarray) -> float:
    """Yaw of the gripper from the tool site's rotation matrix (9,) or (3, 3): 0 closes along world y."""
    m = np.asarray(xmat).reshape(3, 3)
    return math.atan2(-m[0, 1], m[1, 1])
