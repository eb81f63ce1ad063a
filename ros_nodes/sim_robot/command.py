"""`vla sim-robot` (and the `vla_sim_robot` ament entry point): run SimRobotNode until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading

from vla.ros_nodes.common import require_rclpy

from .config import SimRobotConfig


def run_sim_robot(cfg: SimRobotConfig, ros_args: list[str] | None = None) -> int:
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from .node import SimRobotNode

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    context = rclpy.Context()
    rclpy.init(
        args=[cfg.node_name, "--ros-args", *(ros_args or [])],
        context=context,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    node = recorder = None
    try:
        node = SimRobotNode(cfg, context=context)
        if cfg.record is not None:
            from vla.ros_nodes.bags.recorder import BagRecorder, contract_topics

            recorder = BagRecorder(node, cfg.record, contract_topics(node.topics, node.sim_topics, node.cfg.control))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        node.start()
        c = node.cfg
        mode = "lockstep" if c.lockstep else f"{c.rate_hz} Hz"
        print(
            f"[sim-robot] {c.task} ({c.split}, {c.image_size}px, {c.control}, {mode}) running; Ctrl-C to stop",
            flush=True,
        )
        while not stop.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.1)
    finally:
        if node is not None:
            node.stop()
        if recorder is not None:
            recorder.close()
            print(f"[sim-robot] bag: {cfg.record} ({sum(recorder.counts.values())} messages)", flush=True)
        if node is not None:
            node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`ros2 run vla_ros_nodes vla_sim_robot --ros-args -p task:=place`: parameters come from ROS."""
    argv = sys.argv[1:] if argv is None else argv
    ros_args = argv[argv.index("--ros-args") + 1 :] if "--ros-args" in argv else []
    return run_sim_robot(SimRobotConfig(), ros_args)


if __name__ == "__main__":
    sys.exit(main())
