"""`vla serve` as a real subprocess: params file, clean exit on SIGINT/SIGTERM (code 0, no traceback, the
robot left stopped), and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ros extra")

STARTUP_S = 120  # importing torch on 2 loaded cores


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return {**env, **extra}


def _serve(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vla.cli.main", "serve", *map(str, args)],
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def fake_robot(factory):
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("fake_robot_cli", context=context)
    robot = factory(node)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield robot
    finally:
        executor.shutdown()
        thread.join(timeout=5)
        node.destroy_node()
        rclpy.shutdown(context=context)


def _moving(robot):
    return [m for _, m in robot.since("ee", 0) if m.twist.linear.x != 0]


def _process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a live process, None once it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in "ZX" else (fields[0], int(fields[1]))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_shuts_down_cleanly_with_exit_0(constant_checkpoint, tmp_path, robot_factory, wait, sig):
    params = tmp_path / "params.yaml"
    # an int for a float parameter, as people write YAML; the rate must come from this file
    params.write_text("vla_policy_server:\n  ros__parameters:\n    control_rate_hz: 20\n    obs_timeout_s: 1\n")
    with fake_robot(robot_factory) as robot:
        proc = _serve("--checkpoint", constant_checkpoint, "--params-file", params, "--instruction", "pick it")
        try:
            wait(lambda: len(_moving(robot)) >= 10 or proc.poll() is not None, timeout=STARTUP_S)
            assert proc.poll() is None, proc.communicate()[1]
            diag = robot.last_diag()
            control_pid = int(diag["control_process_pid"])  # the control loop's own process (default)
            assert control_pid > 0 and _process_state(control_pid)[1] == proc.pid
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.3)
        last = robot.last("ee")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert "signal received: shutting down" in stderr
    assert float(diag["control_rate_target_hz"]) == 20.0
    assert diag["instruction"] == "pick it"
    v = last.twist.linear
    assert (v.x, v.y, v.z, last.twist.angular.z) == (0.0, 0.0, 0.0, 0.0)  # left the robot stopped
    assert _process_state(control_pid) is None  # no orphaned control process


def test_control_process_stops_the_robot_and_exits_when_the_server_is_killed(constant_checkpoint, robot_factory, wait):
    with fake_robot(robot_factory) as robot:
        proc = _serve("--checkpoint", constant_checkpoint, "--instruction", "pick it")
        try:
            wait(lambda: len(_moving(robot)) >= 5 or proc.poll() is not None, timeout=STARTUP_S)
            assert proc.poll() is None, proc.communicate()[1]
            control_pid = int(robot.last_diag()["control_process_pid"])
            proc.kill()  # SIGKILL: no shutdown transition; the control process notices its parent is gone
            proc.communicate(timeout=30)
            wait(lambda: _process_state(control_pid) is None, timeout=5)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.3)
        last = robot.last("ee")
    v = last.twist.linear
    assert (v.x, v.y, v.z, last.twist.angular.z) == (0.0, 0.0, 0.0, 0.0)  # its last command was a hold


def _one_line_error(proc: subprocess.Popen) -> str:
    _, stderr = proc.communicate(timeout=STARTUP_S)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("vla: error: "), stderr
    return lines[0]


def test_missing_checkpoint_is_one_line_exit_2(tmp_path):
    assert "does not exist" in _one_line_error(_serve("--checkpoint", tmp_path / "nope"))
    assert "no checkpoint" in _one_line_error(_serve())


def test_invalid_params_file_values_are_one_line_exit_2(constant_checkpoint, tmp_path):
    params = tmp_path / "bad.yaml"
    params.write_text(
        "vla_policy_server:\n  ros__parameters:\n    workspace_min: [0.7, 0.0, 0.0]\n    output_type: velocity\n"
    )
    line = _one_line_error(_serve("--checkpoint", constant_checkpoint, "--params-file", params))
    assert "workspace_min" in line and "output_type='velocity'" in line
    params.write_text("other_node:\n  ros__parameters:\n    device: cpu\n")
    assert "no entry for node 'vla_policy_server'" in _one_line_error(
        _serve("--checkpoint", constant_checkpoint, "--params-file", params)
    )


def test_missing_rclpy_is_one_line_exit_2(constant_checkpoint, tmp_path):
    shadow = tmp_path / "no_ros"
    (shadow / "rclpy").mkdir(parents=True)
    (shadow / "rclpy" / "__init__.py").write_text("raise ImportError('No module named rclpy')\n")
    env = _env(PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]))
    line = _one_line_error(_serve("--checkpoint", constant_checkpoint, env=env))
    assert "ROS 2 (rclpy) is not available" in line and "vla[ros]" in line


def test_shipped_params_file_is_valid():
    from vla.ros_nodes.policy_server.command import read_params_file
    from vla.ros_nodes.policy_server.params import ServerParams
    from vla.ros_nodes.policy_server.ros_params import coerce

    path = Path(__file__).resolve().parents[2] / "ros_nodes" / "config" / "policy_server.params.yaml"
    values = read_params_file(path, "vla_policy_server")
    params = ServerParams(**{k: coerce(k, v) for k, v in values.items()})
    assert params.validate() == []
    assert params == ServerParams(**{k: getattr(params, k) for k in values}) and params.control_rate_hz == 10.0
    assert np.allclose(params.workspace_max, [0.66, 0.36, 0.40])
