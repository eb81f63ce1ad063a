"""Command publishers, one class per output_type. Each turns a (finite) policy action into limited
commands and knows how to hold: what "stop" means for that interface.

- ee_twist: /ee_command TwistStamped (base frame) + /gripper_command Float64. Hold = zero twist; the
  gripper keeps its last command (opening it would drop what the robot holds).
- joint_trajectory: /joint_command JointTrajectory with one point (time_from_start = one period)
  + /gripper_command. Hold = a trajectory with no points, which ros2_control's
  joint_trajectory_controller (and the sim robot) read as "stop and hold the current position".
- twist: /cmd_vel Twist for mobile bases. Hold = zero twist.
On the server's lifecycle node the publishers are lifecycle publishers: nothing goes out unless the node is
active; on the control process's plain node (control_process.py) they are ordinary ones, and that process
publishes only while the server is active. Commands are stamped
with the node's clock, or with `stamp_ns` (sync mode: the stamp of the observation they answer). The
gripper command goes out before the arm command, so a lockstep sim, which steps on the arm command, has both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Twist, TwistStamped
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla.ros_nodes.common.qos import COMMAND_QOS
from vla.ros_nodes.common.topics import BASE_FRAME, TopicNames

from .inputs import Observation
from .safety import Limits, base_twist, ee_twist_command, joint_targets


class CommandOutput:
    action_dim: int = 0
    """Smallest action the output can use."""

    def __init__(self, node: Any, topics: TopicNames):
        self.node = node
        self._lifecycle = hasattr(node, "create_lifecycle_publisher")

    def _create_publisher(self, msg_type: Any, topic: str) -> Any:
        if self._lifecycle:
            return self.node.create_lifecycle_publisher(msg_type, topic, COMMAND_QOS)
        return self.node.create_publisher(msg_type, topic, COMMAND_QOS)

    def publish(
        self, action: np.ndarray, obs: Observation, dt: float, limits: Limits, stamp_ns: int | None = None
    ) -> None:
        raise NotImplementedError

    def hold(self, stamp_ns: int | None = None) -> None:
        raise NotImplementedError

    def flush(self, timeout_s: float = 0.5) -> None:
        """Wait (bounded) until every subscriber acknowledged what was published: before a process exits,
        so that its last hold is not lost with the publisher. Best-effort publishers return at once."""
        from rclpy.duration import Duration

        for pub in self._publishers():
            pub.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9)))

    def destroy(self) -> None:
        for pub in self._publishers():
            if self._lifecycle:
                self.node.destroy_lifecycle_publisher(pub)
            else:
                self.node.destroy_publisher(pub)

    def _publishers(self) -> list[Any]:
        return []

    def _stamp(self, stamp_ns: int | None = None):
        if stamp_ns is None:
            return self.node.get_clock().now().to_msg()
        return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


class _GripperMixin:
    def _init_gripper(self, topics: TopicNames) -> None:
        self.gripper_pub = self._create_publisher(Float64, topics.gripper_command)
        self.gripper_value: float | None = None

    def _publish_gripper(self, value: float | None) -> None:
        if value is None:
            return
        self.gripper_value = value
        self.gripper_pub.publish(Float64(data=value))


class EeTwistOutput(_GripperMixin, CommandOutput):
    action_dim = 5

    def __init__(self, node: Any, topics: TopicNames):
        super().__init__(node, topics)
        self.twist_pub = self._create_publisher(TwistStamped, topics.ee_command)
        self._init_gripper(topics)

    def _publishers(self) -> list[Any]:
        return [self.twist_pub, self.gripper_pub]

    def _send(self, linear: np.ndarray, yaw_rate: float, stamp_ns: int | None) -> None:
        msg = TwistStamped()
        msg.header.stamp, msg.header.frame_id = self._stamp(stamp_ns), BASE_FRAME
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
        msg.twist.angular.z = float(yaw_rate)
        self.twist_pub.publish(msg)

    def publish(
        self, action: np.ndarray, obs: Observation, dt: float, limits: Limits, stamp_ns: int | None = None
    ) -> None:
        cmd = ee_twist_command(action, dt, limits, None if obs.tool is None else obs.tool.position)
        self._publish_gripper(cmd.gripper)
        self._send(cmd.linear, cmd.yaw_rate, stamp_ns)

    def hold(self, stamp_ns: int | None = None) -> None:
        self._publish_gripper(self.gripper_value)
        self._send(np.zeros(3), 0.0, stamp_ns)


class JointTrajectoryOutput(_GripperMixin, CommandOutput):
    action_dim = 5

    def __init__(self, node: Any, topics: TopicNames, joint_names: list[str]):
        super().__init__(node, topics)
        self.joint_names = list(joint_names)
        self.traj_pub = self._create_publisher(JointTrajectory, topics.joint_command)
        self._init_gripper(topics)

    def _publishers(self) -> list[Any]:
        return [self.traj_pub, self.gripper_pub]

    def _trajectory(self, stamp_ns: int | None) -> JointTrajectory:
        msg = JointTrajectory()
        msg.header.stamp = self._stamp(stamp_ns)
        msg.joint_names = self.joint_names
        return msg

    def publish(
        self, action: np.ndarray, obs: Observation, dt: float, limits: Limits, stamp_ns: int | None = None
    ) -> None:
        q, gripper = joint_targets(action, limits)
        msg = self._trajectory(stamp_ns)
        sec = int(dt)
        msg.points = [
            JointTrajectoryPoint(
                positions=[float(v) for v in q], time_from_start=Duration(sec=sec, nanosec=int((dt - sec) * 1e9))
            )
        ]
        self._publish_gripper(gripper)
        self.traj_pub.publish(msg)

    def hold(self, stamp_ns: int | None = None) -> None:
        self._publish_gripper(self.gripper_value)
        self.traj_pub.publish(self._trajectory(stamp_ns))


class BaseTwistOutput(CommandOutput):
    action_dim = 2

    def __init__(self, node: Any, topics: TopicNames):
        super().__init__(node, topics)
        self.pub = self._create_publisher(Twist, topics.cmd_vel)

    def _publishers(self) -> list[Any]:
        return [self.pub]

    def _send(self, v: float, w: float) -> None:
        msg = Twist()
        msg.linear.x, msg.angular.z = float(v), float(w)
        self.pub.publish(msg)

    def publish(
        self, action: np.ndarray, obs: Observation, dt: float, limits: Limits, stamp_ns: int | None = None
    ) -> None:
        self._send(*base_twist(action, dt, limits))

    def hold(self, stamp_ns: int | None = None) -> None:
        self._send(0.0, 0.0)


def default_output_type(action_dim: int) -> str | None:
    """The output a checkpoint's actions imply: 5 = ee_delta, 6 = joint targets + gripper, 2 = base (v, w)."""
    return {5: "ee_twist", 6: "joint_trajectory", 2: "twist"}.get(action_dim)


def make_output(kind: str, node: Any, topics: TopicNames, arm_joint_names: list[str]) -> CommandOutput:
    if kind == "ee_twist":
        return EeTwistOutput(node, topics)
    if kind == "joint_trajectory":
        return JointTrajectoryOutput(node, topics, arm_joint_names)
    return BaseTwistOutput(node, topics)
