"""SimRobotNode: one tabletop env stepped on its own thread, exposed over the ROS 2 topic contract.

Callbacks only store the latest command (CommandBuffer) or queue a reset; the sim thread steps the env
(wall-clock paced, or once per command in lockstep) and publishes, in this order for every observation:
/clock, both camera images, /joint_states, /tool_pose (all stamped with the same sim time), then
/sim/episode. After an episode ends (success or time limit) the robot holds still and publishes
nothing but the final /sim/episode status until the next /sim/reset; the observation after the last
step is not published (as in a dataset, every published observation is followed by an action).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
from rclpy.node import Node

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE
from vla.policies.eval.digest import TrajectoryDigest
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
from vla.ros_nodes.common.topics import ARM_JOINT_NAMES, TopicNames

from . import messages as m
from .commands import CommandBuffer
from .config import SimRobotConfig, SimTopics

POLL_S = 0.05  # how often a waiting sim thread re-checks for resets and shutdown


class SimRobotNode(Node):
    def __init__(
        self,
        cfg: SimRobotConfig,
        topics: TopicNames | None = None,
        sim_topics: SimTopics | None = None,
        context: Any = None,
    ):
        from diagnostic_msgs.msg import DiagnosticStatus
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Bool, Float64, Int64, String
        from trajectory_msgs.msg import JointTrajectory

        from vla.envs import make_env

        super().__init__(cfg.node_name, context=context)
        self.cfg = cfg = self._with_parameters(cfg)
        self.topics, self.sim_topics = topics or TopicNames(), sim_topics or SimTopics()
        t, s = self.topics, self.sim_topics
        self.env = make_env(
            cfg.task, image_size=cfg.image_size, split=cfg.split, control=cfg.control, control_hz=cfg.rate_hz
        )
        self.commands = CommandBuffer(cfg.control, 1.0 / cfg.rate_hz)
        self._resets: deque[int] = deque()  # seeds from /sim/reset, handled by the sim thread
        self.pub_clock = self.create_publisher(Clock, s.clock, RELIABLE_QOS)
        self.pub_images = {
            "scene": self.create_publisher(Image, t.camera_scene, IMAGE_QOS),
            "wrist": self.create_publisher(Image, t.camera_wrist, IMAGE_QOS),
        }
        self.pub_joints = self.create_publisher(JointState, t.joint_states, JOINT_STATES_QOS)
        self.pub_pose = self.create_publisher(PoseStamped, t.tool_pose, TOOL_POSE_QOS)
        self.pub_instruction = self.create_publisher(String, t.instruction, INSTRUCTION_QOS)
        self.pub_episode = self.create_publisher(DiagnosticStatus, s.episode, LATCHED_QOS)
        if cfg.control == "ee_delta":
            self.create_subscription(TwistStamped, t.ee_command, self._on_twist, COMMAND_QOS)
        else:
            self.create_subscription(JointTrajectory, t.joint_command, self._on_joint_command, COMMAND_QOS)
        self.create_subscription(
            Float64, t.gripper_command, lambda msg: self.commands.set_gripper(msg.data), COMMAND_QOS
        )
        self.create_subscription(Bool, t.estop, lambda msg: self.commands.set_estop(msg.data), ESTOP_QOS)
        self.create_subscription(Int64, s.reset, lambda msg: self._resets.append(int(msg.data)), RELIABLE_QOS)

        self._stop = threading.Event()
        self._sim_steps = 0  # control periods simulated since start: sim time = _sim_steps * period
        self.episode = -1
        self.seed = cfg.seed
        self.step_in_episode = 0
        self.done = False
        self.success = False
        self.digest = TrajectoryDigest()
        self.final_digest = ""  # of the episode's actions and final state, once it is done
        self.steps_per_s = 0.0  # measured over the last episode, for logs and benchmarks
        self._obs: dict[str, Any] | None = None
        self._last_publish = 0.0
        self._thread = threading.Thread(target=self._run, name="sim_robot", daemon=True)

    # ------------------------------------------------------------------ parameters
    def _with_parameters(self, cfg: SimRobotConfig) -> SimRobotConfig:
        """Declare the config's scalar fields as ROS parameters (defaults from `cfg`), so a params YAML or
        `--ros-args -p rate_hz:=20` overrides them; return the resolved config."""
        from dataclasses import replace

        from rcl_interfaces.msg import ParameterDescriptor

        names = ("task", "seed", "image_size", "rate_hz", "split", "control", "lockstep")
        values = {}
        for name in names:
            desc = ParameterDescriptor(description=f"vla sim-robot --{name.replace('_', '-')}", read_only=True)
            values[name] = self.declare_parameter(name, getattr(cfg, name), desc).value
        return replace(cfg, **values)

    # ------------------------------------------------------------------ callbacks (short: store and return)
    def _on_twist(self, msg: Any) -> None:
        lin = msg.twist.linear
        self.commands.set_twist((lin.x, lin.y, lin.z), msg.twist.angular.z, m.stamp_to_ns(msg.header.stamp))

    def _on_joint_command(self, msg: Any) -> None:
        if not msg.points:
            return
        positions = dict(zip(msg.joint_names, msg.points[0].positions, strict=False))
        if all(n in positions for n in ARM_JOINT_NAMES):
            targets = np.array([positions[n] for n in ARM_JOINT_NAMES])
            self.commands.set_joint_targets(targets, m.stamp_to_ns(msg.header.stamp))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        else:
            self.env.close()  # otherwise the sim thread closes it: its GL context is current there

    @property
    def stamp_ns(self) -> int:
        return self._sim_steps * self.cfg.period_ns

    # ------------------------------------------------------------------ the sim thread
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.env.close()

    def _loop(self) -> None:
        self._reset(self.cfg.seed)
        period = 1.0 / self.cfg.rate_hz
        next_tick = time.monotonic() + period
        episode_start = time.monotonic()
        while not self._stop.is_set():
            if self._resets:
                self._reset(self._resets.popleft())
                next_tick, episode_start = time.monotonic() + period, time.monotonic()
                continue
            if self.done:
                self._stop.wait(POLL_S)
                continue
            if self.cfg.lockstep:
                timeout = POLL_S
                if not self.commands.wait_lockstep(self.stamp_ns, self.cfg.lockstep_gripper_wait_s, timeout):
                    if time.monotonic() - self._last_publish > self.cfg.republish_s:
                        self._publish_observation()
                    continue
            else:
                delay = next_tick - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_tick = max(next_tick + period, time.monotonic())  # never burst to catch up
            self._step()
            if self.done:
                elapsed = time.monotonic() - episode_start
                self.steps_per_s = self.step_in_episode / elapsed if elapsed > 0 else 0.0

    def _reset(self, seed: int) -> None:
        from std_msgs.msg import String

        obs, _ = self.env.reset(seed=seed)
        self.commands.reset()
        self.episode += 1
        self.seed, self.step_in_episode, self.done, self.success = seed, 0, False, False
        self.digest, self.final_digest = TrajectoryDigest(), ""
        self._sim_steps += 1  # the env settles the scene for one control step at reset
        self._obs = obs
        self.pub_instruction.publish(String(data=self.env.unwrapped.instruction))
        self._publish_observation()
        self._publish_episode()
        self.get_logger().info(f"episode {self.episode} seed {seed}: {self.env.unwrapped.instruction!r}")

    def _step(self) -> None:
        state = self._obs[OBS_STATE]
        action = self.commands.action(current_joints=state[:5])
        obs, _, terminated, truncated, info = self.env.step(action)
        self.digest.add_action(action)
        self._sim_steps += 1
        self.step_in_episode += 1
        self._obs = obs
        self.success = bool(info["is_success"])
        self.done = bool(terminated or truncated)
        if self.done:
            self.final_digest = self.digest.final(obs[OBS_STATE])
        if not self.done:
            self._publish_observation()
        self._publish_episode()

    def _publish_observation(self) -> None:
        stamp, obs = self.stamp_ns, self._obs
        self.pub_clock.publish(m.clock_msg(stamp))
        self.pub_images["scene"].publish(m.image_msg(obs[OBS_IMAGE_SCENE], stamp, "scene"))
        self.pub_images["wrist"].publish(m.image_msg(obs[OBS_IMAGE_WRIST], stamp, "wrist"))
        self.pub_joints.publish(m.joint_state_msg(obs[OBS_STATE], stamp))
        self.pub_pose.publish(m.tool_pose_msg(obs[OBS_STATE], stamp))
        self._last_publish = time.monotonic()

    def _publish_episode(self) -> None:
        env = self.env.unwrapped
        self.pub_episode.publish(
            m.episode_status_msg(
                {
                    "episode": self.episode,
                    "seed": self.seed,
                    "step": self.step_in_episode,
                    "success": self.success,
                    "done": self.done,
                    "task": env.task_name,
                    "instruction": env.instruction,
                    "stamp_ns": self.stamp_ns,
                    "max_steps": env.max_steps,
                    "digest": self.final_digest,
                }
            )
        )
