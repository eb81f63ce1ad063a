"""Env observation and episode state -> ROS 2 messages, and the /sim/episode status <-> dict.

/sim/episode is a diagnostic_msgs/DiagnosticStatus (a standard type with free key-values; std_srvs
is not in the wheels), published latched after every reset and every step:
  name "vla_sim_robot/episode", level OK, message = the instruction, values (all strings):
  episode (0-based counter), seed, step, success, done (true/false), task, instruction, stamp_ns,
  max_steps, digest (empty until the episode is done; then `vla.policies.eval.digest` of its actions and
  final state, the same fingerprint in-process eval computes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla.ros_nodes.common import BASE_FRAME, DEFAULT_JOINT_NAMES
from vla.ros_nodes.common.image import numpy_to_image

EPISODE_STATUS_NAME = "vla_sim_robot/episode"
CAMERA_FRAMES = {"scene": "scene_camera", "wrist": "wrist_camera"}
STATE_JOINTS = slice(0, 6)  # 5 joints (rad) + gripper gap (m)
STATE_TOOL_POS = slice(6, 9)
STATE_TOOL_QUAT = slice(9, 13)  # w, x, y, z


def to_time(stamp_ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


def clock_msg(stamp_ns: int) -> Any:
    from rosgraph_msgs.msg import Clock

    return Clock(clock=to_time(stamp_ns))


def image_msg(img: np.ndarray, stamp_ns: int, camera: str) -> Any:
    return numpy_to_image(img, to_time(stamp_ns), CAMERA_FRAMES[camera])


def joint_state_msg(state: np.ndarray, stamp_ns: int) -> Any:
    """The float32 state's joints (and gripper gap) as a JointState; float32 -> float64 is exact."""
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp = to_time(stamp_ns)
    msg.header.frame_id = BASE_FRAME
    msg.name = list(DEFAULT_JOINT_NAMES)
    msg.position = [float(x) for x in state[STATE_JOINTS]]
    return msg


def tool_pose_msg(state: np.ndarray, stamp_ns: int) -> Any:
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header.stamp = to_time(stamp_ns)
    msg.header.frame_id = BASE_FRAME
    p, q = state[STATE_TOOL_POS], state[STATE_TOOL_QUAT]
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in p)
    msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = (
        float(v) for v in q
    )
    return msg


def state_from_messages(joint_state: Any, tool_pose: Any, joint_names=DEFAULT_JOINT_NAMES) -> np.ndarray:
    """(13,) float32 observation.state from a JointState (by name) and a PoseStamped."""
    index = {n: i for i, n in enumerate(joint_state.name)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise ValueError(f"joint_states lacks joints {missing}")
    joints = [joint_state.position[index[n]] for n in joint_names]
    p, o = tool_pose.pose.position, tool_pose.pose.orientation
    return np.array([*joints, p.x, p.y, p.z, o.w, o.x, o.y, o.z], dtype=np.float32)


def episode_status_msg(info: dict[str, Any]) -> Any:
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return DiagnosticStatus(
        level=DiagnosticStatus.OK,
        name=EPISODE_STATUS_NAME,
        message=str(info.get("instruction", "")),
        hardware_id="mujoco",
        values=[KeyValue(key=k, value=text(v)) for k, v in info.items()],
    )


def episode_status_dict(msg: Any) -> dict[str, Any]:
    """Parse a /sim/episode status back into typed values."""
    raw = {kv.key: kv.value for kv in msg.values}
    out: dict[str, Any] = dict(raw)
    for k in ("episode", "seed", "step", "stamp_ns", "max_steps"):
        if k in raw:
            out[k] = int(raw[k])
    for k in ("success", "done"):
        if k in raw:
            out[k] = raw[k] == "true"
    return out
