"""The topic contract between `vla serve` (policy server) and `vla sim-robot` (simulated robot).

Both nodes take their defaults from `TopicNames()`, so a topic renamed here is renamed for both.
Plain Python (no rclpy) so configs and tests can import it without the `ros` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

from vla.constants import OBS_IMAGES_PREFIX

BASE_FRAME = "base_link"
"""Frame of `/tool_pose` and of the ee twist commands: the robot base."""
ARM_JOINT_NAMES: tuple[str, ...] = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll")
GRIPPER_JOINT = "gripper"
"""JointState name whose `position` is the gripper gap in metres (not an angle)."""
DEFAULT_JOINT_NAMES: tuple[str, ...] = (*ARM_JOINT_NAMES, GRIPPER_JOINT)
DEFAULT_CAMERAS: tuple[str, ...] = ("scene", "wrist")


def camera_topic(name: str) -> str:
    """Image topic of a camera: `/camera/<name>/image_raw` (sensor_msgs/Image, rgb8)."""
    return f"/camera/{name}/image_raw"


def camera_key(name: str) -> str:
    """LeRobot observation key of a camera: `observation.images.<name>`."""
    return f"{OBS_IMAGES_PREFIX}{name}"


def camera_name(key: str) -> str:
    """Inverse of camera_key: 'observation.images.scene' -> 'scene'."""
    return key.removeprefix(OBS_IMAGES_PREFIX)


@dataclass(frozen=True)
class TopicNames:
    """Default topics. QoS per topic is in `vla.ros_nodes.common.qos` (images: sensor data; the rest reliable)."""

    camera_scene: str = camera_topic("scene")
    """sensor_msgs/Image rgb8 of the scene camera (`observation.images.scene`)."""
    camera_wrist: str = camera_topic("wrist")
    """sensor_msgs/Image rgb8 of the wrist camera (`observation.images.wrist`)."""
    joint_states: str = "/joint_states"
    """sensor_msgs/JointState: arm joints in rad, `gripper` position = gripper gap in m."""
    tool_pose: str = "/tool_pose"
    """geometry_msgs/PoseStamped: tool-centre pose in BASE_FRAME."""
    instruction: str = "/instruction"
    """std_msgs/String, reliable + transient local (late joiners get the last instruction)."""
    estop: str = "/estop"
    """std_msgs/Bool: true = stop (zero commands) until false."""
    ee_command: str = "/ee_command"
    """geometry_msgs/TwistStamped: linear = (dx, dy, dz)/dt m/s, angular.z = dyaw/dt rad/s, in BASE_FRAME."""
    gripper_command: str = "/gripper_command"
    """std_msgs/Float64: gripper command in [-1, 1] (-1 open, +1 closed)."""
    joint_command: str = "/joint_command"
    """trajectory_msgs/JointTrajectory with one point of absolute joint targets."""
    cmd_vel: str = "/cmd_vel"
    """geometry_msgs/Twist for mobile bases (navigation policies)."""
    diagnostics: str = "/diagnostics"
    """diagnostic_msgs/DiagnosticArray at 1 Hz."""

    @property
    def cameras(self) -> dict[str, str]:
        """Camera name -> image topic; the policy sees camera `c` as `observation.images.<c>`."""
        return {"scene": self.camera_scene, "wrist": self.camera_wrist}
