"""Helpers shared by the ROS 2 nodes (policy server, simulated robot): topic names, QoS profiles,
image <-> numpy conversion and a guarded rclpy import.

`topics` and `image` import without rclpy so configs and tests can use them anywhere; `qos` needs the
`ros` extra (call `require_rclpy()` first to get a one-line error instead of an ImportError).
"""

from .ros_import import require_rclpy
from .topics import BASE_FRAME, DEFAULT_JOINT_NAMES, GRIPPER_JOINT, TopicNames, camera_key, camera_topic

__all__ = [
    "BASE_FRAME",
    "DEFAULT_JOINT_NAMES",
    "GRIPPER_JOINT",
    "TopicNames",
    "camera_key",
    "camera_topic",
    "require_rclpy",
]
