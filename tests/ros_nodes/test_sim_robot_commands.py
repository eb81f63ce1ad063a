"""The sim robot's command rules without ROS: twist -> per-step delta, hold and timeout, estop, lockstep."""

import threading
import time

import numpy as np
import pytest

from vla.errors import VlaUserError
from vla.ros_nodes.sim_robot.commands import CommandBuffer
from vla.ros_nodes.sim_robot.config import SimRobotConfig


def test_twist_times_period_is_the_env_action_bit_exactly():
    buf = CommandBuffer("ee_delta", 0.1)
    expert = np.array([0.0123, -0.03, 0.007, 0.2, 0.5], dtype=np.float32)
    buf.set_twist(tuple(float(v) / 0.1 for v in expert[:3]), float(expert[3]) / 0.1)
    buf.set_gripper(float(expert[4]))
    assert np.array_equal(buf.action(), expert)


def test_twist_is_held_for_at_most_one_period_and_gripper_is_held():
    buf = CommandBuffer("ee_delta", 0.05)
    buf.set_twist((0.1, 0.0, 0.0), 0.0)
    buf.set_gripper(1.0)
    assert buf.action()[0] == pytest.approx(0.005)
    assert buf.action()[0] == pytest.approx(0.005)  # still within one period of its arrival
    time.sleep(0.08)
    a = buf.action()
    assert np.array_equal(a[:4], np.zeros(4)) and a[4] == 1.0  # arm holds, gripper keeps its command
    buf.reset()
    assert buf.action()[4] == -1.0  # a new episode starts open


def test_estop_ignores_arm_commands_and_bad_values_are_dropped():
    buf = CommandBuffer("ee_delta", 0.1)
    buf.set_estop(True)
    buf.set_twist((0.2, 0.0, 0.0), 0.0)
    assert np.array_equal(buf.action()[:4], np.zeros(4))
    buf.set_estop(False)
    buf.set_twist((float("nan"), 0.0, 0.0), 0.0)
    assert np.array_equal(buf.action()[:4], np.zeros(4))
    joint = CommandBuffer("joint", 0.1)
    now = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    assert np.allclose(joint.action(now)[:5], now)  # no command yet: hold where the arm is
    joint.set_joint_targets(np.ones(5))
    assert np.allclose(joint.action(now)[:5], 1.0)


def test_lockstep_waits_for_a_fresh_command_and_drops_stale_ones():
    buf = CommandBuffer("ee_delta", 0.1)
    assert not buf.wait_lockstep(min_stamp_ns=100, gripper_wait_s=0.0, timeout_s=0.05)
    buf.set_twist((0.1, 0, 0), 0, stamp_ns=50)  # computed from an older observation
    assert not buf.wait_lockstep(min_stamp_ns=100, gripper_wait_s=0.0, timeout_s=0.05)
    threading.Timer(0.05, lambda: buf.set_gripper(0.3)).start()
    buf.set_twist((0.1, 0, 0), 0, stamp_ns=100)
    t0 = time.monotonic()
    assert buf.wait_lockstep(min_stamp_ns=100, gripper_wait_s=1.0, timeout_s=1.0)
    assert time.monotonic() - t0 < 0.9  # stepped as soon as the gripper command came
    assert buf.action()[4] == pytest.approx(0.3)


def test_config_errors_are_one_line():
    with pytest.raises(VlaUserError, match="divide the 500 Hz"):
        SimRobotConfig(rate_hz=7)
