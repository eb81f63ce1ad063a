"""Turning one policy action into a safe command: finite check, workspace, speed and joint limits.

Pure numpy so the limits are unit-tested without ROS; the node applies them on every published command.
Actions follow TabletopEnv's conventions: ee_delta = [dx, dy, dz (m), dyaw (rad), gripper in [-1, 1]] per
control step; joint = [5 absolute joint targets (rad), gripper]; navigation = [forward (m), yaw (rad)] per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limits:
    max_linear_speed: float  # m/s, norm of the commanded tool (or base) velocity
    max_angular_speed: float  # rad/s, |yaw rate|
    workspace_min: np.ndarray  # (3,) m, tool-centre box in the base frame
    workspace_max: np.ndarray
    joint_min: np.ndarray  # (J,) rad, absolute targets in joint mode
    joint_max: np.ndarray


@dataclass(frozen=True)
class EeTwist:
    linear: np.ndarray  # (3,) m/s in the base frame
    yaw_rate: float  # rad/s about base z
    gripper: float  # [-1, 1]


def is_finite(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))


def ee_twist_command(action: np.ndarray, dt: float, limits: Limits, tool_position: np.ndarray | None) -> EeTwist:
    """ee_delta action -> velocity command over one period `dt`, inside the workspace and speed limits.

    Workspace: the displacement is shortened so that tool + displacement stays in the box (when the tool
    pose is known). Speed: the linear velocity is scaled down along its direction (never re-aimed), which
    keeps the target in the box because the box is convex and contains the tool.
    """
    delta = np.asarray(action[:3], dtype=np.float64)
    if tool_position is not None:
        target = tool_position + delta
        clipped = np.clip(target, limits.workspace_min, limits.workspace_max)
        if np.any(clipped != target):  # only then: (tool + delta) - tool is not bit-exactly delta
            delta = clipped - tool_position
    linear = delta / dt
    speed = float(np.linalg.norm(linear))
    if speed > limits.max_linear_speed:
        linear = linear * (limits.max_linear_speed / speed)
    # float64 before dividing: a float32 quotient would not give the action back as yaw_rate * dt (bit for bit)
    yaw_rate = float(np.clip(float(action[3]) / dt, -limits.max_angular_speed, limits.max_angular_speed))
    gripper = float(np.clip(action[4], -1.0, 1.0)) if len(action) > 4 else 0.0
    return EeTwist(linear, yaw_rate, gripper)


def joint_targets(action: np.ndarray, limits: Limits) -> tuple[np.ndarray, float | None]:
    """joint action -> (arm targets clipped to the joint limits, gripper in [-1, 1] or None if absent)."""
    n = len(limits.joint_min)
    q = np.clip(np.asarray(action[:n], dtype=np.float64), limits.joint_min, limits.joint_max)
    gripper = float(np.clip(action[n], -1.0, 1.0)) if len(action) > n else None
    return q, gripper


def base_twist(action: np.ndarray, dt: float, limits: Limits) -> tuple[float, float]:
    """navigation action [forward m, yaw rad per step] -> (linear.x m/s, angular.z rad/s), speed-limited."""
    v = float(np.clip(float(action[0]) / dt, -limits.max_linear_speed, limits.max_linear_speed))
    w = float(np.clip(float(action[1]) / dt, -limits.max_angular_speed, limits.max_angular_speed))
    return v, w
