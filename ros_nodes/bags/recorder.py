"""Record ROS 2 topics into a rosbag2 MCAP bag from inside a running node.

Subscriptions are raw (`raw=True`): rclpy hands over the CDR bytes, which are what rosbag2 stores, so
nothing is deserialized or re-encoded. The log time of each message is its wall-clock receive time,
as `ros2 bag record` does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TopicSpec:
    topic: str
    msg_type: Any  # the rclpy message class
    qos: Any  # rclpy QoSProfile used to subscribe


def ros_type_name(msg_type: Any) -> str:
    """sensor_msgs.msg.Image -> 'sensor_msgs/msg/Image' (the name rosbag2 stores)."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def contract_topics(topics=None, sim_topics=None, control: str = "ee_delta") -> list[TopicSpec]:
    """Every topic of the robot/policy contract plus the sim's clock and episode topics."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Bool, Float64, Int64, String
    from trajectory_msgs.msg import JointTrajectory

    from vla.ros_nodes.common.qos import (
        COMMAND_QOS,
        ESTOP_QOS,
        IMAGE_QOS,
        INSTRUCTION_QOS,
        JOINT_STATES_QOS,
        LATCHED_QOS,
        RELIABLE_QOS,
        TOOL_POSE_QOS,
    )
    from vla.ros_nodes.common.topics import TopicNames
    from vla.ros_nodes.sim_robot.config import SimTopics

    t, s = topics or TopicNames(), sim_topics or SimTopics()
    specs = [
        TopicSpec(t.camera_scene, Image, IMAGE_QOS),
        TopicSpec(t.camera_wrist, Image, IMAGE_QOS),
        TopicSpec(t.joint_states, JointState, JOINT_STATES_QOS),
        TopicSpec(t.tool_pose, PoseStamped, TOOL_POSE_QOS),
        TopicSpec(t.instruction, String, INSTRUCTION_QOS),
        TopicSpec(t.estop, Bool, ESTOP_QOS),
        TopicSpec(t.gripper_command, Float64, COMMAND_QOS),
        TopicSpec(s.clock, Clock, RELIABLE_QOS),
        TopicSpec(s.reset, Int64, RELIABLE_QOS),
        TopicSpec(s.episode, DiagnosticStatus, LATCHED_QOS),
    ]
    if control == "joint":
        specs.append(TopicSpec(t.joint_command, JointTrajectory, COMMAND_QOS))
    else:
        specs.append(TopicSpec(t.ee_command, TwistStamped, COMMAND_QOS))
    return specs


class BagRecorder:
    """Writes every message of `specs` that `node` receives into a new MCAP bag at `path`."""

    def __init__(self, node: Any, path: Path, specs: list[TopicSpec]):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        typestore = get_typestore(Stores.ROS2_JAZZY)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self._open = True
        self.counts: dict[str, int] = {}
        self._subs = []
        for spec in specs:
            conn = self._writer.add_connection(spec.topic, ros_type_name(spec.msg_type), typestore=typestore)
            self.counts[spec.topic] = 0
            cb = partial(self._write, conn, spec.topic)
            self._subs.append(node.create_subscription(spec.msg_type, spec.topic, cb, spec.qos, raw=True))

    def _write(self, conn: Any, topic: str, data: bytes) -> None:
        with self._lock:
            if self._open:
                self._writer.write(conn, time.time_ns(), data)
                self.counts[topic] += 1

    def close(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self._writer.close()
