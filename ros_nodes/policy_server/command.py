"""`vla serve`: start the policy server node, optionally configure + activate it, spin until SIGINT/SIGTERM.

Bad input (missing checkpoint, unreadable params file, invalid parameter values, no rclpy) is reported
as one line with exit code 2 before any ROS entity exists. Signals trigger the lifecycle shutdown
transition (a final hold command, threads joined, model freed) and exit 0 without a traceback.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from vla.errors import VlaUserError

from .config import ServeConfig


def read_params_file(path: Path, node_name: str) -> dict[str, Any]:
    """This node's `ros__parameters` from a ROS 2 params YAML (also `/**` wildcard entries); checked early."""
    import yaml

    if not path.is_file():
        raise VlaUserError(f"params file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise VlaUserError(f"params file {path} is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise VlaUserError(f"params file {path} must map node names to {{ros__parameters: ...}}")
    params: dict[str, Any] = {}
    for key in ("/**", node_name, "/" + node_name):
        entry = doc.get(key)
        if entry is None:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("ros__parameters"), dict):
            raise VlaUserError(f"params file {path}: '{key}' needs a 'ros__parameters:' mapping")
        params.update(entry["ros__parameters"])
    if not params and doc:
        raise VlaUserError(f"params file {path} has no entry for node '{node_name}' (found {sorted(doc)})")
    return params


def run_serve(cfg: ServeConfig) -> int:
    from vla.ros_nodes.common.ros_import import require_rclpy

    rclpy = require_rclpy()
    file_params = read_params_file(cfg.params_file, cfg.node_name) if cfg.params_file else {}
    checkpoint = cfg.checkpoint or file_params.get("checkpoint")
    if not checkpoint:
        raise VlaUserError("no checkpoint: pass --checkpoint DIR (or set checkpoint in --params-file)")
    from vla.policy.checkpoint import load_config

    load_config(checkpoint)  # a missing or foreign checkpoint fails here, in one line, before ROS starts

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from .node import PolicyServerNode

    overrides = [Parameter("checkpoint", value=str(checkpoint))]
    if cfg.instruction is not None:
        overrides.append(Parameter("instruction", value=cfg.instruction))
    if cfg.device is not None:
        overrides.append(Parameter("device", value=cfg.device))
    args = ["vla-serve", "--ros-args"] + (["--params-file", str(cfg.params_file)] if cfg.params_file else [])

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = None
    try:
        node = PolicyServerNode(cfg.node_name, parameter_overrides=overrides)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if cfg.autostart and not stop.is_set():
            _autostart(node)
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
        node.get_logger().info("signal received: shutting down")
        return 0
    finally:
        if node is not None:
            if node._state_machine.current_state[1] != "finalized":
                node.trigger_shutdown()
            if executor is not None:
                executor.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _autostart(node) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise VlaUserError(f"could not configure the policy server: {node.configure_error or 'see the log above'}")
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise VlaUserError("could not activate the policy server; see the log above")
