"""SimRobotClient: drive a running `vla sim-robot` over ROS 2 from Python (tests, scripted experts, eval).

It assembles complete observations (both images, joint states and tool pose with the same stamp) into
the env's observation dict, sends actions as the contract's command messages, and resets episodes by seed.
The caller spins the node (e.g. `spin_in_background`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.ros_nodes.common.image import image_to_numpy
from vla.ros_nodes.common.qos import (
    COMMAND_QOS,
    IMAGE_QOS,
    INSTRUCTION_QOS,
    JOINT_STATES_QOS,
    LATCHED_QOS,
    RELIABLE_QOS,
    TOOL_POSE_QOS,
)
from vla.ros_nodes.common.topics import ARM_JOINT_NAMES, TopicNames

from . import messages as m
from .config import SimTopics

_PARTS = ("scene", "wrist", "joints", "pose")


class SimRobotClient:
    def __init__(self, node: Any, rate_hz: int = 10, topics: TopicNames | None = None, sim: SimTopics | None = None):
        from diagnostic_msgs.msg import DiagnosticStatus
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Float64, Int64, String
        from trajectory_msgs.msg import JointTrajectory

        t, s = topics or TopicNames(), sim or SimTopics()
        self.node, self.period_s = node, 1.0 / rate_hz
        self._cond = threading.Condition()
        self._partial: dict[int, dict[str, Any]] = {}
        self.observation: dict[str, Any] | None = None  # latest complete one
        self.stamp_ns = -1
        self.status: dict[str, Any] | None = None
        self.instruction = ""
        self.received_stamps: list[int] = []  # stamps of complete observations, in arrival order
        node.create_subscription(Image, t.camera_scene, lambda msg: self._part(msg, "scene"), IMAGE_QOS)
        node.create_subscription(Image, t.camera_wrist, lambda msg: self._part(msg, "wrist"), IMAGE_QOS)
        node.create_subscription(JointState, t.joint_states, lambda msg: self._part(msg, "joints"), JOINT_STATES_QOS)
        node.create_subscription(PoseStamped, t.tool_pose, lambda msg: self._part(msg, "pose"), TOOL_POSE_QOS)
        node.create_subscription(DiagnosticStatus, s.episode, self._on_status, LATCHED_QOS)
        node.create_subscription(String, t.instruction, self._on_instruction, INSTRUCTION_QOS)
        self.pub_reset = node.create_publisher(Int64, s.reset, RELIABLE_QOS)
        self.pub_twist = node.create_publisher(TwistStamped, t.ee_command, COMMAND_QOS)
        self.pub_gripper = node.create_publisher(Float64, t.gripper_command, COMMAND_QOS)
        self.pub_joints = node.create_publisher(JointTrajectory, t.joint_command, COMMAND_QOS)

    # ------------------------------------------------------------------ callbacks
    def _part(self, msg: Any, part: str) -> None:
        stamp = m.stamp_to_ns(msg.header.stamp)
        with self._cond:
            parts = self._partial.setdefault(stamp, {})
            parts[part] = msg
            if len(parts) < len(_PARTS):
                return
            del self._partial[stamp]
            for old in [k for k in self._partial if k < stamp]:
                del self._partial[old]  # a dropped best-effort image: that observation never completes
            if stamp <= self.stamp_ns:
                return  # a republished observation already seen
            self.observation = {
                OBS_IMAGE_SCENE: image_to_numpy(parts["scene"]),
                OBS_IMAGE_WRIST: image_to_numpy(parts["wrist"]),
                OBS_STATE: m.state_from_messages(parts["joints"], parts["pose"]),
                TASK: self.instruction,
            }
            self.stamp_ns = stamp
            self.received_stamps.append(stamp)
            self._cond.notify_all()

    def _on_status(self, msg: Any) -> None:
        with self._cond:
            self.status = m.episode_status_dict(msg)
            self._cond.notify_all()

    def _on_instruction(self, msg: Any) -> None:
        with self._cond:
            self.instruction = msg.data
            self._cond.notify_all()

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate, timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"no {what} within {timeout:.0f} s")

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Wait until the sim robot subscribes to /sim/reset and the commands, and has published a status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self.pub_reset.get_subscription_count() > 0 and self.pub_gripper.get_subscription_count() > 0
            if ready and self.status is not None:
                return
            time.sleep(0.05)
        raise TimeoutError(f"no sim robot on {self.pub_reset.topic_name} within {timeout:.0f} s")

    def reset(self, seed: int, timeout: float = 30.0) -> dict[str, Any]:
        """Start an episode with `seed`; return its first observation (with its instruction)."""
        from std_msgs.msg import Int64

        previous = self.status["episode"] if self.status else -1
        self.pub_reset.publish(Int64(data=int(seed)))
        self.wait_for(
            lambda: self.status is not None and self.status["episode"] > previous and self.status["seed"] == seed,
            timeout,
            f"/sim/episode for seed {seed}",
        )
        first = self.status["stamp_ns"]
        self.wait_for(
            lambda: self.stamp_ns >= first and self.instruction == self.status["instruction"], timeout, "observation"
        )
        return self.latest()

    def latest(self) -> dict[str, Any]:
        with self._cond:
            return {**self.observation, TASK: self.instruction}

    def wait_step(self, after_stamp_ns: int, timeout: float = 30.0) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """After an action: the next observation (None when the episode ended) and the episode status.

        The sim publishes an observation's /sim/episode status right after it, with the same stamp: wait for
        both, so the status returned is the one of the observation returned."""
        self.wait_for(
            lambda: (
                self.status is not None
                and self.status["stamp_ns"] > after_stamp_ns
                and (self.status["done"] or self.stamp_ns >= self.status["stamp_ns"])
            ),
            timeout,
            "observation or end of episode",
        )
        with self._cond:
            status = dict(self.status)
            if status["done"] and status["stamp_ns"] > after_stamp_ns:
                return None, status
            return {**self.observation, TASK: self.instruction}, status

    # ------------------------------------------------------------------ commands
    def send_ee_action(self, action: np.ndarray, stamp_ns: int = 0) -> None:
        """An env ee_delta action (dx, dy, dz, dyaw per step, gripper) as /gripper_command + /ee_command."""
        from geometry_msgs.msg import TwistStamped
        from std_msgs.msg import Float64

        a = np.asarray(action, dtype=np.float64)
        twist = TwistStamped()
        twist.header.stamp = m.to_time(stamp_ns)
        twist.header.frame_id = "base_link"
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(v / self.period_s) for v in a[:3])
        twist.twist.angular.z = float(a[3] / self.period_s)
        self.pub_gripper.publish(Float64(data=float(a[4])))
        self.pub_twist.publish(twist)

    def send_joint_action(self, action: np.ndarray, stamp_ns: int = 0) -> None:
        """An env joint action (5 targets, gripper) as /gripper_command + /joint_command."""
        from std_msgs.msg import Float64
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        a = np.asarray(action, dtype=np.float64)
        traj = JointTrajectory(joint_names=list(ARM_JOINT_NAMES))
        traj.header.stamp = m.to_time(stamp_ns)
        traj.points = [JointTrajectoryPoint(positions=[float(v) for v in a[:5]])]
        self.pub_gripper.publish(Float64(data=float(a[5])))
        self.pub_joints.publish(traj)


def spin_in_background(node: Any) -> tuple[Any, threading.Thread]:
    """Spin `node` on a daemon thread with its own executor; returns (executor, thread)."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread
