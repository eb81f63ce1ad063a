"""Fixtures for the ROS 2 node tests: tiny real checkpoints, and a running policy server wired to a fake
robot through real topics (its own rclpy context, spun on a background thread).

ROS 2 tests must run inside a loopback-only network namespace (scripts/test.sh does this); as a second
line of defence discovery is restricted to localhost here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

CONTROL_HZ = 10.0
IMAGE_HW = (32, 32)
ARM_Q = [0.1, -0.2, 0.8, 1.0, 0.05]
GRIPPER_GAP = 0.04


# ---------------------------------------------------------------------------------------------- checkpoints
def _save_tiny(path: Path, action_dim: int, action_min, action_max, state_dim: int = 13) -> Path:
    import torch

    from vla.policy.checkpoint import save_policy
    from vla.policy.configuration_vla import make_config
    from vla.policy.modeling_vla import VLAPolicy

    torch.manual_seed(0)
    config = make_config("tiny-l1", image_size=IMAGE_HW, action_dim=action_dim, state_dim=state_dim)
    policy = VLAPolicy(config)
    with torch.no_grad():
        policy.normalizer.action_min.copy_(torch.as_tensor(action_min, dtype=torch.float32))
        policy.normalizer.action_max.copy_(torch.as_tensor(action_max, dtype=torch.float32))
    return save_policy(policy, path)


@pytest.fixture(scope="session")
def checkpoint_factory(tmp_path_factory) -> Callable[..., Path]:
    """checkpoint_factory(name, action_min, action_max=None, action_dim=5) -> a saved tiny-l1 checkpoint.

    With action_max == action_min the unnormalized output is that constant (to ~1e-6) whatever the random
    weights compute, so tests can assert exact command values; NaN bounds make the model output NaN.
    """
    root = tmp_path_factory.mktemp("ckpts")
    cache: dict[str, Path] = {}

    def make(name: str, action_min, action_max=None, action_dim: int | None = None, state_dim: int = 13) -> Path:
        if name not in cache:
            lo = np.asarray(action_min, np.float32)
            hi = lo if action_max is None else np.asarray(action_max, np.float32)
            cache[name] = _save_tiny(root / name, action_dim or len(lo), lo, hi, state_dim)
        return cache[name]

    return make


CONSTANT_EE_ACTION = [0.01, -0.02, 0.005, 0.1, 0.5]


@pytest.fixture(scope="session")
def constant_checkpoint(checkpoint_factory) -> Path:
    """ee_delta policy that always outputs CONSTANT_EE_ACTION."""
    return checkpoint_factory("constant", CONSTANT_EE_ACTION)


# ---------------------------------------------------------------------------------------------- fake robot
class FakeRobot:
    """A ROS node that publishes synthetic observations at `rate_hz` and records every command it receives.

    Tests change what it publishes (tool position, stamps, malformed images, silence) through attributes.
    """

    def __init__(self, node, rate_hz: float = 30.0):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Bool, Float64, String
        from trajectory_msgs.msg import JointTrajectory

        from vla.ros_nodes.common import qos
        from vla.ros_nodes.common.topics import TopicNames

        t = TopicNames()
        self.node = node
        self.lock = threading.Lock()
        self.image_pubs = {c: node.create_publisher(Image, topic, qos.IMAGE_QOS) for c, topic in t.cameras.items()}
        self.joint_pub = node.create_publisher(JointState, t.joint_states, qos.JOINT_STATES_QOS)
        self.pose_pub = node.create_publisher(PoseStamped, t.tool_pose, qos.TOOL_POSE_QOS)
        self.instruction_pub = node.create_publisher(String, t.instruction, qos.INSTRUCTION_QOS)
        self.estop_pub = node.create_publisher(Bool, t.estop, qos.ESTOP_QOS)
        self.received: dict[str, list[tuple[float, object]]] = {
            k: [] for k in ("ee", "gripper", "joint", "cmd_vel", "diag")
        }
        for key, msg_type, topic, profile in (
            ("ee", TwistStamped, t.ee_command, qos.COMMAND_QOS),
            ("gripper", Float64, t.gripper_command, qos.COMMAND_QOS),
            ("joint", JointTrajectory, t.joint_command, qos.COMMAND_QOS),
            ("cmd_vel", Twist, t.cmd_vel, qos.COMMAND_QOS),
            ("diag", DiagnosticArray, t.diagnostics, qos.DIAGNOSTICS_QOS),
        ):
            node.create_subscription(msg_type, topic, self._recorder(key), profile)

        self.publishing = True
        self.joint_names = ["shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll", "gripper"]
        self.joints = [*ARM_Q, GRIPPER_GAP]
        self.tool_position = [0.4, 0.0, 0.2]
        self.stamp_offset_s = 0.0
        self.image_encoding = "rgb8"
        self.image_data_bytes: int | None = None  # publish this many bytes instead of h*w*3 (garbage length)
        self._rng = np.random.default_rng(0)
        self.timer = node.create_timer(1.0 / rate_hz, self.publish_observation)

    def _recorder(self, key: str):
        def cb(msg) -> None:
            with self.lock:
                self.received[key].append((time.monotonic(), msg))

        return cb

    def publish_observation(self) -> None:
        from geometry_msgs.msg import PoseStamped
        from rclpy.duration import Duration
        from sensor_msgs.msg import JointState

        from vla.ros_nodes.common.image import numpy_to_image

        if not self.publishing:
            return
        stamp = (self.node.get_clock().now() + Duration(nanoseconds=int(self.stamp_offset_s * 1e9))).to_msg()
        for cam, pub in self.image_pubs.items():
            msg = numpy_to_image(self._rng.integers(0, 255, (*IMAGE_HW, 3), dtype=np.uint8), stamp, cam)
            msg.encoding = self.image_encoding
            if self.image_data_bytes is not None:
                msg.data = bytes(self.image_data_bytes)
            pub.publish(msg)
        js = JointState(name=list(self.joint_names), position=[float(v) for v in self.joints])
        js.header.stamp = stamp
        self.joint_pub.publish(js)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in self.tool_position)
        pose.pose.orientation.w = 1.0
        self.pose_pub.publish(pose)

    def say(self, text: str) -> None:
        from std_msgs.msg import String

        self.instruction_pub.publish(String(data=text))

    def estop(self, engaged: bool) -> float:
        """Publish /estop; returns time.monotonic() just before publishing."""
        from std_msgs.msg import Bool

        t = time.monotonic()
        self.estop_pub.publish(Bool(data=engaged))
        return t

    def since(self, key: str, t0: float) -> list[tuple[float, object]]:
        with self.lock:
            return [(t, m) for t, m in self.received[key] if t >= t0]

    def last(self, key: str):
        with self.lock:
            return self.received[key][-1][1] if self.received[key] else None

    def last_diag(self) -> dict[str, str]:
        """The latest diagnostics as a dict with 'level' (int), 'message' and the key/values."""
        msg = self.last("diag")
        if msg is None:
            return {}
        status = msg.status[0]
        return {"level": status.level[0], "message": status.message, **{kv.key: kv.value for kv in status.values}}


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    """Poll until predicate() is truthy; returns its value or fails the test with the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def ee_linear(msg) -> np.ndarray:
    v = msg.twist.linear
    return np.array([v.x, v.y, v.z])


def spin_in_background(executor, context) -> Callable[[], None]:
    """Spin `executor` on a daemon thread; returns a function that stops it, joins the thread and shuts the
    executor down.

    A lifecycle transition triggered from the test thread can destroy a subscription or publisher while the
    spinning thread adds its QoS event handler to the wait set; rclpy then raises InvalidHandle, and
    `executor.spin` would end there, with every callback after it. In `vla serve` transitions run in the
    executor's own thread; here the next spin_once no longer sees the destroyed entity, so spinning goes on."""
    from rclpy._rclpy_pybind11 import InvalidHandle

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set() and context.ok():
            try:
                executor.spin_once(timeout_sec=0.05)
            except InvalidHandle:
                continue

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()

    def stop_spinning() -> None:
        stop.set()
        thread.join(timeout=5)
        executor.shutdown()

    return stop_spinning


@contextmanager
def running_server(
    checkpoint: Path, autostart: bool = True, robot_rate_hz: float = 30.0, **params
) -> Iterator[tuple[object, FakeRobot]]:
    """A PolicyServerNode (configured + activated when autostart) and a FakeRobot in one rclpy context."""
    rclpy = pytest.importorskip("rclpy", reason="needs the ros extra")
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from vla.ros_nodes.policy_server.node import PolicyServerNode

    overrides = {"checkpoint": str(checkpoint), "control_rate_hz": CONTROL_HZ, "instruction": "pick up the red cube"}
    overrides.update(params)
    context = rclpy.Context()
    rclpy.init(context=context)
    server = PolicyServerNode(
        parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()], context=context
    )
    robot_node = rclpy.create_node("fake_robot", context=context)
    robot = FakeRobot(robot_node, robot_rate_hz)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(server)
    executor.add_node(robot_node)
    stop_spinning = spin_in_background(executor, context)
    try:
        if autostart:
            from rclpy.lifecycle import TransitionCallbackReturn

            assert server.trigger_configure() == TransitionCallbackReturn.SUCCESS, server.configure_error
            assert server.trigger_activate() == TransitionCallbackReturn.SUCCESS
        yield server, robot
    finally:
        stop_spinning()
        if server._state_machine.current_state[1] != "finalized":
            server.trigger_shutdown()
        server.destroy_node()
        robot_node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture
def serve():
    """`with serve(checkpoint, **params) as (server, robot):` a running server and its fake robot."""
    return running_server


@pytest.fixture
def background_spin():
    """`stop = background_spin(executor, context)`: spin on a thread that survives rclpy's InvalidHandle race."""
    return spin_in_background


@pytest.fixture
def wait():
    """`wait(predicate, timeout)`: poll until truthy (fails the test on timeout)."""
    return wait_until


@pytest.fixture
def robot_factory():
    """FakeRobot, for tests that build their own node (e.g. next to a `vla serve` subprocess)."""
    return FakeRobot
