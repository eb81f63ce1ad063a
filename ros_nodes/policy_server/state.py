"""Assembling the policy's `observation.state` from ROS messages.

The tabletop policies use 13 numbers (envs/manipulation/tabletop_env.py, `_state`):
    [shoulder_pan, shoulder_lift, elbow, wrist_pitch, wrist_roll,  (rad)
     gripper gap,                                                   (m, JointState position of `gripper`)
     tool x, y, z,                                                  (m, base frame, from /tool_pose)
     tool quaternion w, x, y, z]
i.e. the JointState positions of `joint_names` in that order, then (when a tool pose topic is configured)
position and wxyz quaternion. ROS quaternions are xyzw; the reorder happens here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ToolPose:
    position: np.ndarray  # (3,) m
    quaternion_wxyz: np.ndarray  # (4,)


def joint_positions(names: Sequence[str], positions: Sequence[float], wanted: Sequence[str]) -> np.ndarray:
    """Positions of `wanted` joints (in that order) from a JointState's parallel name/position arrays.

    Extra joints in the message are ignored (robots often publish more, e.g. finger joints); a missing one,
    a name/position length mismatch or a non-finite value raises ValueError saying which.
    """
    if len(names) != len(positions):
        raise ValueError(f"JointState has {len(names)} names but {len(positions)} positions")
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise ValueError(f"JointState lacks joint(s) {missing} (got {list(names)}); set the joint_names parameter")
    q = np.array([positions[index[n]] for n in wanted], dtype=np.float64)
    if not np.all(np.isfinite(q)):
        bad = [n for n, v in zip(wanted, q, strict=True) if not np.isfinite(v)]
        raise ValueError(f"JointState has non-finite position(s) for {bad}")
    return q


def tool_pose_from_msg(pose) -> ToolPose:
    """geometry_msgs/Pose -> ToolPose (quaternion reordered xyzw -> wxyz); ValueError if non-finite."""
    p, o = pose.position, pose.orientation
    pos = np.array([p.x, p.y, p.z], dtype=np.float64)
    quat = np.array([o.w, o.x, o.y, o.z], dtype=np.float64)
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
        raise ValueError("tool pose has non-finite values")
    return ToolPose(pos, quat)


def assemble_state(joints: np.ndarray, tool: ToolPose | None) -> np.ndarray:
    """float32 state vector: joint positions, then tool position and wxyz quaternion when `tool` is given."""
    parts = [joints] if tool is None else [joints, tool.position, tool.quaternion_wxyz]
    return np.concatenate(parts).astype(np.float32)


def state_dim(num_joints: int, with_tool_pose: bool) -> int:
    return num_joints + (7 if with_tool_pose else 0)
