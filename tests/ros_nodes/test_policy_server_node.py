"""The policy server against a fake robot through real topics: command values, rate, limits, output types,
lifecycle. Each test runs the real node (in this process, own rclpy context) with a real tiny checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs the ros extra")

CONTROL_HZ = 10.0  # conftest's default control_rate_hz
PERIOD = 1.0 / CONTROL_HZ
ACTION = np.array([0.01, -0.02, 0.005, 0.1, 0.5])  # the constant checkpoint's output (conftest)
OK, WARN, ERROR = 0, 1, 2


def _lin(msg) -> np.ndarray:
    v = msg.twist.linear
    return np.array([v.x, v.y, v.z])


def _nonzero(robot, t0):
    return [(t, m) for t, m in robot.since("ee", t0) if np.any(_lin(m) != 0)]


def test_ee_commands_are_the_policy_actions_over_the_period_at_the_control_rate(constant_checkpoint, serve, wait):
    # The stale-camera hold (obs_timeout_s, 0.5 s by default) is tested in test_policy_server_safety.py; here a
    # 0.54 s gap between two fake-robot frames, seen in a full suite run, would turn this commands test into
    # a hold, so the timeout is widened.
    with serve(constant_checkpoint, obs_timeout_s=2.0) as (server, robot):
        wait(lambda: len(_nonzero(robot, 0)) >= 3, timeout=15)
        t0 = time.monotonic()
        time.sleep(2.0)
        cmds = _nonzero(robot, t0)
        # One diagnostics message can be a transient hold ("waiting for the next action chunk": a chunk a few ms
        # late, seen once in a loaded full suite); the steady state is OK, so poll for it.
        wait(lambda: robot.last_diag().get("level") == OK, timeout=5)
        diag = robot.last_diag()
    # 10 Hz for 2 s, counted by arrival in this process (+-25%: it shares 2 cores with the DDS threads; a full
    # suite once saw 16), every command = action / period, in the base frame. The rate itself is checked
    # below from the commands' own stamps.
    assert 15 <= len(cmds) <= 25, len(cmds)
    for _, msg in cmds:
        np.testing.assert_allclose(_lin(msg), ACTION[:3] / PERIOD, atol=1e-4)
        assert msg.twist.angular.z == pytest.approx(ACTION[3] / PERIOD, abs=1e-4)
        assert msg.header.frame_id == "base_link"
    # The period from the commands' own stamps (the server's clock when it published): arrival times in this
    # process also carry its scheduling, and a late batch of deliveries shifted their median by 11 ms once.
    periods = np.diff([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in cmds])
    assert np.median(periods) == pytest.approx(PERIOD, abs=0.01)
    assert robot.last("gripper").data == pytest.approx(ACTION[4], abs=1e-4)
    assert diag["level"] == OK, diag
    assert int(diag["chunks_computed"]) >= 3
    assert float(diag["control_rate_hz"]) == pytest.approx(CONTROL_HZ, rel=0.1)
    assert diag["output_type"] == "ee_twist"


def test_commands_are_clipped_to_speed_and_workspace_limits(checkpoint_factory, serve, wait):
    fast = checkpoint_factory("fast", [0.05, 0.0, 0.0, 0.5, 1.0])  # 0.5 m/s, 5 rad/s requested
    with serve(fast) as (server, robot):
        robot.tool_position = [0.40, 0.0, 0.2]
        wait(lambda: _nonzero(robot, 0), timeout=15)
        _, msg = _nonzero(robot, 0)[-1]
        np.testing.assert_allclose(_lin(msg), [0.3, 0.0, 0.0], atol=1e-4)  # max_linear_speed
        assert msg.twist.angular.z == pytest.approx(2.5, abs=1e-4)  # max_angular_speed

        robot.tool_position = [0.65, 0.0, 0.2]  # 1 cm from workspace_max x = 0.66
        time.sleep(0.5)
        t0 = time.monotonic()
        wait(lambda: _nonzero(robot, t0), timeout=5)
        np.testing.assert_allclose(_lin(_nonzero(robot, t0)[-1][1]), [0.1, 0.0, 0.0], atol=1e-4)

        # limits are live parameters; invalid values are rejected with a reason
        from rclpy.parameter import Parameter

        assert server.set_parameters([Parameter("max_linear_speed", value=0.05)])[0].successful
        robot.tool_position = [0.40, 0.0, 0.2]
        time.sleep(0.5)
        t0 = time.monotonic()
        wait(lambda: _nonzero(robot, t0), timeout=5)
        np.testing.assert_allclose(_lin(_nonzero(robot, t0)[-1][1]), [0.05, 0.0, 0.0], atol=1e-4)
        bad = server.set_parameters([Parameter("workspace_min", value=[0.7, -0.36, 0.025])])[0]
        assert not bad.successful and "workspace_min" in bad.reason and "below workspace_max" in bad.reason
        bad = server.set_parameters([Parameter("obs_timeout_s", value="soon")])[0]
        assert not bad.successful and "wrong type" in bad.reason
        assert server.params.workspace_min == [0.15, -0.36, 0.025]


def test_joint_trajectory_output_is_clipped_to_joint_limits(checkpoint_factory, serve, wait):
    joint = checkpoint_factory("joint", [3.0, -0.5, 0.4, 0.3, -4.0, 0.2])  # pan and roll beyond their limits
    with serve(joint) as (server, robot):
        wait(lambda: [m for _, m in robot.since("joint", 0) if m.points], timeout=15)
        msg = [m for _, m in robot.since("joint", 0) if m.points][-1]
    assert server.output_type == "joint_trajectory"
    assert list(msg.joint_names) == ["shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll"]
    np.testing.assert_allclose(msg.points[0].positions, [2.6, -0.5, 0.4, 0.3, -3.0], atol=1e-4)
    assert msg.points[0].time_from_start.nanosec == pytest.approx(PERIOD * 1e9, abs=1e3)
    assert robot.last("gripper").data == pytest.approx(0.2, abs=1e-4)


def test_twist_output_for_a_mobile_base(checkpoint_factory, serve, wait):
    nav = checkpoint_factory("nav", [0.02, -0.5], state_dim=6)  # 0.2 m/s forward, -5 rad/s (clipped to -2.5)
    with serve(nav, tool_pose_topic="", max_angular_speed=2.5) as (server, robot):
        wait(lambda: [m for _, m in robot.since("cmd_vel", 0) if m.linear.x != 0], timeout=15)
        msg = [m for _, m in robot.since("cmd_vel", 0) if m.linear.x != 0][-1]
    assert server.output_type == "twist"
    assert msg.linear.x == pytest.approx(0.2, abs=1e-4)
    assert msg.angular.z == pytest.approx(-2.5, abs=1e-4)


@pytest.mark.parametrize("control_process", [True, False], ids=["control_process", "control_thread"])
def test_lifecycle_publishes_only_while_active_and_frees_the_model(constant_checkpoint, serve, wait, control_process):
    from rclpy.lifecycle import TransitionCallbackReturn as R

    with serve(constant_checkpoint, autostart=False, control_process=control_process) as (server, robot):
        assert server.trigger_configure() == R.SUCCESS
        assert server.policy is not None
        time.sleep(0.6)
        assert robot.since("ee", 0) == []  # inactive: nothing published
        assert server.trigger_activate() == R.SUCCESS
        wait(lambda: len(_nonzero(robot, 0)) >= 2, timeout=15)
        assert server.trigger_deactivate() == R.SUCCESS
        t_off = time.monotonic()
        # The last command leaves the robot stopped: the final hold arrives (within 0.2 s, asserted below; polled,
        # since a loaded machine may deliver it after a fixed 0.1 s sleep).
        wait(lambda: not np.any(_lin(robot.last("ee"))), timeout=2)
        time.sleep(0.5)
        # A command published just before the final hold may still be in flight at t_off (DDS keeps one
        # writer's order): from the first stop that arrives after t_off on, nothing moves.
        after = [m for _, m in robot.since("ee", t_off)]
        first_stop = next((i for i, m in enumerate(after) if not np.any(_lin(m))), len(after))  # none: held earlier
        assert first_stop <= 1 and all(not np.any(_lin(m)) for m in after[first_stop:])
        assert len(robot.since("ee", t_off + 0.2)) == 0
        control_pid = server.diagnostic_values()["control_process_pid"]
        assert (control_pid > 0) == control_process
        assert server.trigger_cleanup() == R.SUCCESS
        assert server.policy is None and server.worker is None
        assert server.diagnostic_values()["control_process_pid"] == 0
        if control_process:  # cleanup ends the control process (configure starts a new one)
            assert not Path(f"/proc/{control_pid}").exists()
        assert server.trigger_configure() == R.SUCCESS  # and it can be configured again
        time.sleep(0.6)
        assert server.trigger_activate() == R.SUCCESS
        t_on = time.monotonic()
        wait(lambda: len(_nonzero(robot, t_on)) >= 2, timeout=15)  # and it moves the robot again


def test_configure_fails_with_a_reason_when_the_state_does_not_fit_the_checkpoint(constant_checkpoint, serve):
    from rclpy.lifecycle import TransitionCallbackReturn as R

    with serve(constant_checkpoint, autostart=False, tool_pose_topic="") as (server, robot):
        assert server.trigger_configure() == R.FAILURE
        assert "13-d state" in server.configure_error and "give 6" in server.configure_error
        assert server.policy is None
