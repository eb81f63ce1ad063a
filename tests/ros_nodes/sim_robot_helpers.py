"""Helpers for ROS 2 tests: a client context in this process and `vla` subprocesses with loopback-only DDS.

Tests that start nodes must run inside a loopback-only network namespace (see README, Development)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ros extra")


def ros_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["OMP_NUM_THREADS"] = "1"
    return env


def start_vla(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vla.cli.main", *map(str, args)],
        env=ros_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def ros_node(name: str):
    """A node in its own rclpy context, spun on a background thread."""
    from vla.ros_nodes.sim_robot.client import spin_in_background

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor, thread = spin_in_background(node)
    try:
        yield node
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
        thread.join(timeout=5)
