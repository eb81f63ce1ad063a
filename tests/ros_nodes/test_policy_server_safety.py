"""Faults injected through real topics into a running policy server: stale or NaN observations, NaN model
output, e-stop, malformed messages. The server must hold (zero twist), say why in /diagnostics, never
publish a non-finite command, and keep running."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs the ros extra")

PERIOD = 0.1  # conftest's control_rate_hz = 10
ROBOT_PERIOD = 1 / 30  # conftest's FakeRobot rate
# A bad observation reaches the server with the robot's next message, the control loop holds at its next
# tick, and the hold travels back over DDS. Bound: one robot period + one control period + 0.25 s for
# two DDS deliveries and scheduling on a loaded 2-core CI runner (0.34 s was seen there with 0.1 s slack).
HOLD_BOUND_S = ROBOT_PERIOD + PERIOD + 0.25
OK, WARN, ERROR = 0, 1, 2


def _lin(msg) -> np.ndarray:
    v = msg.twist.linear
    return np.array([v.x, v.y, v.z, msg.twist.angular.z])


def _moving(robot, t0):
    return [(t, m) for t, m in robot.since("ee", t0) if np.any(_lin(m) != 0)]


def _all_finite(robot) -> bool:
    return all(np.all(np.isfinite(_lin(m))) for _, m in robot.since("ee", 0)) and all(
        np.isfinite(m.data) for _, m in robot.since("gripper", 0)
    )


def _holds_from(robot, t0: float, wait) -> float:
    """Time from t0 until the first command after which every command is zero (the server holds)."""
    wait(lambda: robot.since("ee", t0) and not np.any(_lin(robot.since("ee", t0)[-1][1])), timeout=5)
    time.sleep(3 * PERIOD)
    after = robot.since("ee", t0)
    first_zero = next(i for i in range(len(after)) if all(not np.any(_lin(m)) for _, m in after[i:]))
    return after[first_zero][0] - t0


def test_silent_camera_holds_within_timeout_and_reports_error(constant_checkpoint, serve, wait):
    with serve(constant_checkpoint, obs_timeout_s=0.3) as (server, robot):
        wait(lambda: _moving(robot, 0), timeout=15)
        robot.publishing = False
        t0 = time.monotonic()
        assert _holds_from(robot, t0, wait) < 0.3 + HOLD_BOUND_S  # obs_timeout_s, then as a bad observation
        diag = wait(lambda: robot.last_diag().get("level") == ERROR and robot.last_diag())
        assert "silent" in diag["message"] and "obs_timeout_s=0.3" in diag["message"]
        robot.publishing = True  # recovers by itself once observations are fresh again
        t1 = time.monotonic()
        wait(lambda: _moving(robot, t1), timeout=5)
        wait(lambda: robot.last_diag().get("level") == OK, timeout=3)


def test_old_header_stamps_hold(constant_checkpoint, serve, wait):
    with serve(constant_checkpoint, max_stamp_age_s=0.5) as (server, robot):
        wait(lambda: _moving(robot, 0), timeout=15)
        robot.stamp_offset_s = -2.0  # fresh messages carrying 2 s old stamps (e.g. a lagging driver)
        t0 = time.monotonic()
        assert _holds_from(robot, t0, wait) < HOLD_BOUND_S
        diag = wait(lambda: robot.last_diag().get("level") == ERROR and robot.last_diag())
        assert "header stamp is" in diag["message"] and "max_stamp_age_s=0.5" in diag["message"]


@pytest.mark.parametrize("field", ["tool_position", "joints"])
def test_nan_observation_is_never_acted_on(constant_checkpoint, serve, wait, field):
    with serve(constant_checkpoint) as (server, robot):
        wait(lambda: _moving(robot, 0), timeout=15)
        values = list(getattr(robot, field))
        values[1] = float("nan")
        setattr(robot, field, values)
        t0 = time.monotonic()
        assert _holds_from(robot, t0, wait) < HOLD_BOUND_S
        diag = wait(lambda: robot.last_diag().get("level") == ERROR and robot.last_diag())
        assert "non-finite" in diag["message"]
        assert _all_finite(robot)


def test_nan_model_output_is_never_published(checkpoint_factory, serve, wait):
    nan = checkpoint_factory("nan", [float("nan")] * 5)
    with serve(nan) as (server, robot):
        diag = wait(lambda: robot.last_diag().get("level") == ERROR and robot.last_diag(), timeout=15)
        # the control process's publishers may still be discovering the robot when the first chunk fails
        wait(lambda: len(robot.since("ee", 0)) >= 3, timeout=10)
        cmds = robot.since("ee", 0)
    assert "non-finite actions" in diag["message"]
    assert len(cmds) >= 3 and all(np.all(_lin(m) == 0) for _, m in cmds)
    assert int(diag["commands_published"]) == 0 and int(diag["chunks_computed"]) >= 1


@pytest.mark.parametrize("control_process", [True, False], ids=["control_process", "control_thread"])
def test_estop_zeroes_commands_within_one_period_until_released(constant_checkpoint, serve, wait, control_process):
    with serve(constant_checkpoint, control_process=control_process) as (server, robot):
        wait(lambda: len(_moving(robot, 0)) >= 2, timeout=15)
        latencies = []
        for _ in range(3):
            t0 = robot.estop(True)
            wait(lambda t0=t0: [m for _, m in robot.since("ee", t0) if not np.any(_lin(m))], timeout=2)
            first_zero = next(t for t, m in robot.since("ee", t0) if not np.any(_lin(m)))
            latencies.append(first_zero - t0)
            # Held until released: wait for 4+ periods of commands (receipt can lag under load), all zero.
            wait(lambda fz=first_zero: len(robot.since("ee", fz)) >= 4, timeout=5)
            engaged = robot.since("ee", first_zero)
            assert all(not np.any(_lin(m)) for _, m in engaged)
            assert robot.last_diag()["estop"] == "True"
            t1 = robot.estop(False)
            wait(lambda t1=t1: _moving(robot, t1), timeout=3)
    assert max(latencies) < PERIOD + 0.05, latencies


def test_malformed_messages_warn_with_a_reason_and_the_node_keeps_running(constant_checkpoint, serve, wait):
    with serve(constant_checkpoint) as (server, robot):
        wait(lambda: _moving(robot, 0), timeout=15)
        cases = [
            ("image_encoding", "yuv422", "unsupported encoding 'yuv422'"),
            ("image_data_bytes", 100, "data has 100 bytes, expected step*height = 96*32 = 3072"),
            ("joint_names", ["j1", "j2", "j3", "j4", "j5", "j6"], "JointState lacks joint(s)"),
        ]
        for attr, bad, reason in cases:
            good = getattr(robot, attr)
            setattr(robot, attr, bad)
            t0 = time.monotonic()
            diag = wait(lambda reason=reason: reason in robot.last_diag().get("last_warning", "") and robot.last_diag())
            assert _holds_from(robot, t0, wait) < HOLD_BOUND_S  # the same path as any bad observation
            assert int(diag["dropped_frames"]) > 0
            setattr(robot, attr, good)
            t1 = time.monotonic()
            wait(lambda t1=t1: _moving(robot, t1), timeout=5)  # still alive, resumes on good input
        assert _all_finite(robot)
