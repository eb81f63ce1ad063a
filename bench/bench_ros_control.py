"""Control-loop timing of `vla serve` while the model runs: period p50/p99 and jitter, missed periods,
observation-to-command latency, inference latency and CPU use, at 20 Hz and 50 Hz.

    python bench/bench_ros_control.py [--preset vla-l1] [--seconds 20] [--rates 20 50] [--out bench_ros_control.json]
        [--load 2] [--priority 50] [--threads 0] [--sleep-model 10] [--control-process on|off]

--load N adds N busy-looping processes (a reproducible stand-in for other jobs on the machine);
--priority / --threads set the node's control_priority / num_threads (default: the node's defaults);
--sleep-model MS replaces inference by a sleep of MS ms (no CPU, no GIL): what the model itself costs the loop.
--control-process on|off sets the node's control_process (default: the node's default, on): the control loop
in its own process, or a control thread in the server process (the old design, for before/after runs).

A synthetic robot (96x96 scene + wrist images, joint states, tool pose at 30 Hz) runs in a subprocess;
the server runs in this process exactly as `vla serve` does (lifecycle node, executor + inference threads,
the control loop in its own process or in a thread). CPU use counts this process and the control process.
As root the script re-runs itself in a loopback-only network namespace (`unshare --net`), so DDS never
leaves the machine. The checkpoint is an untrained policy of the chosen preset (the timing does not
depend on the weights) unless --checkpoint is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ISOLATED = "VLA_BENCH_ISOLATED"


def isolate() -> None:
    if os.environ.get(ISOLATED) or os.geteuid() != 0:
        return
    env = {**os.environ, ISOLATED: "1", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.setdefault("ROS_DOMAIN_ID", str(np.random.default_rng().integers(1, 100)))
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, *sys.argv]
    sys.exit(subprocess.call(cmd, env=env))


def run_publisher(rate_hz: float, image: int) -> None:
    """Subprocess: publish synthetic observations until killed."""
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import Image, JointState

    from vla.ros_nodes.common import qos
    from vla.ros_nodes.common.image import numpy_to_image
    from vla.ros_nodes.common.topics import DEFAULT_JOINT_NAMES, TopicNames

    rclpy.init()
    node = rclpy.create_node("bench_robot")
    t = TopicNames()
    cams = {c: node.create_publisher(Image, tp, qos.IMAGE_QOS) for c, tp in t.cameras.items()}
    js_pub = node.create_publisher(JointState, t.joint_states, qos.JOINT_STATES_QOS)
    pose_pub = node.create_publisher(PoseStamped, t.tool_pose, qos.TOOL_POSE_QOS)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (image, image, 3), dtype=np.uint8) for _ in range(8)]
    i = 0

    def publish() -> None:
        nonlocal i
        stamp = node.get_clock().now().to_msg()
        for pub in cams.values():
            pub.publish(numpy_to_image(frames[i % len(frames)], stamp))
        i += 1
        js = JointState(name=list(DEFAULT_JOINT_NAMES), position=[0.1, -0.2, 0.8, 1.0, 0.05, 0.04])
        js.header.stamp = stamp
        js_pub.publish(js)
        pose = PoseStamped()
        pose.header.stamp = stamp
        pose.pose.position.x, pose.pose.position.z, pose.pose.orientation.w = 0.4, 0.2, 1.0
        pose_pub.publish(pose)

    node.create_timer(1.0 / rate_hz, publish)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, Exception):
        pass


def make_checkpoint(preset: str, out: Path) -> Path:
    import torch

    from vla.policy.checkpoint import save_policy
    from vla.policy.configuration_vla import make_config
    from vla.policy.modeling_vla import VLAPolicy

    torch.manual_seed(0)
    return save_policy(VLAPolicy(make_config(preset)), out / preset)


def busy_loop() -> None:
    """Subprocess: burn one core's worth of CPU (pure Python) until killed."""
    while True:
        pass


def sleeping_model(ms: float, chunk: np.ndarray):
    def infer(obs):
        time.sleep(ms / 1e3)
        return chunk

    return infer


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of another live process (0 when there is none)."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct_ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1e3) if len(values) else float("nan")


def measure(server, rate_hz: float, seconds: float, sleep_model_ms: float = 0.0) -> dict:
    from rclpy.parameter import Parameter

    server.set_parameters([Parameter("control_rate_hz", value=float(rate_hz))])
    server.trigger_configure()
    if sleep_model_ms > 0:
        cfg = server.policy.config
        server.worker._infer = sleeping_model(sleep_model_ms, np.zeros((cfg.chunk_size, cfg.action_dim)))
    server.trigger_activate()
    time.sleep(3.0)  # warm-up: first chunks, caches
    for r in (server.periods, server.latencies, server.obs_to_command):
        r.clear()
    missed0, holds0, pub0 = server.missed_periods, server.holds, server.published
    chunks0 = server.worker.computed
    load = os.getloadavg()[0]
    control_pid = server.diagnostic_values()["control_process_pid"]
    child0 = _cpu_seconds(control_pid)
    ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(seconds)
    ru1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    child_cpu = _cpu_seconds(control_pid) - child0
    periods = np.array(server.periods.values())
    latencies = np.array(server.latencies.values())
    o2c = np.array(server.obs_to_command.values())
    result = {
        "rate_hz": rate_hz,
        "load_avg_1min": load,
        "ticks": int(len(periods) + 1),
        "period_p50_ms": float(np.percentile(periods, 50) * 1e3),
        "period_p99_ms": float(np.percentile(periods, 99) * 1e3),
        "jitter_p99_ms": float(np.percentile(np.abs(periods - 1.0 / rate_hz), 99) * 1e3),
        "jitter_max_ms": float(np.max(np.abs(periods - 1.0 / rate_hz)) * 1e3),
        "missed_periods": int(server.missed_periods - missed0),
        "late_ticks_gt_half_period": int(np.sum(periods > 1.5 / rate_hz)),
        "commands": int(server.published - pub0),
        "hold_ticks": int(server.holds - holds0),
        "chunks": int(server.worker.computed - chunks0),
        "inference_p50_ms": _pct_ms(latencies, 50),
        "inference_p95_ms": _pct_ms(latencies, 95),
        "obs_to_command_p50_ms": _pct_ms(o2c, 50),
        "obs_to_command_p95_ms": _pct_ms(o2c, 95),
        "cpu_percent_of_one_core": 100.0
        * ((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime) + child_cpu)
        / wall,
        "control_process_cpu_percent": 100.0 * child_cpu / wall,
    }
    server.trigger_deactivate()
    server.trigger_cleanup()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="vla-l1")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rates", type=float, nargs="+", default=[20.0, 50.0])
    ap.add_argument("--min-remaining", type=int, default=-1, help="min_remaining_actions parameter")
    ap.add_argument("--out", default="bench_ros_control.json")
    ap.add_argument("--load", type=int, default=0, help="busy-looping processes running during the measurement")
    ap.add_argument("--priority", type=int, default=None, help="control_priority parameter (SCHED_FIFO; 0 = off)")
    ap.add_argument("--threads", type=int, default=None, help="num_threads parameter (0 = cores - 1)")
    ap.add_argument("--sleep-model", type=float, default=0.0, help="replace inference by a sleep of this many ms")
    ap.add_argument("--control-process", choices=["on", "off"], default=None, help="control_process parameter")
    ap.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--busy", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publisher:
        return run_publisher(30.0, 96)
    if args.busy:
        return busy_loop()
    isolate()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from vla.ros_nodes.policy_server.node import PolicyServerNode

    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    ckpt = Path(args.checkpoint) if args.checkpoint else make_checkpoint(args.preset, tmp)
    pub = subprocess.Popen([sys.executable, __file__, "--publisher"], env={**os.environ, "OMP_NUM_THREADS": "1"})
    busy = [subprocess.Popen([sys.executable, __file__, "--busy"]) for _ in range(args.load)]
    rclpy.init()
    overrides = [
        Parameter("checkpoint", value=str(ckpt)),
        Parameter("instruction", value="pick up the red cube"),
        Parameter("min_remaining_actions", value=args.min_remaining),
    ]
    if args.priority is not None:
        overrides.append(Parameter("control_priority", value=args.priority))
    if args.threads is not None:
        overrides.append(Parameter("num_threads", value=args.threads))
    if args.control_process is not None:
        overrides.append(Parameter("control_process", value=args.control_process == "on"))
    server = PolicyServerNode(parameter_overrides=overrides)
    executor = SingleThreadedExecutor()
    executor.add_node(server)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    results = []
    load_before = os.getloadavg()[0]
    try:
        for rate in args.rates:
            results.append(measure(server, rate, args.seconds, args.sleep_model))
            print(f"{rate:g} Hz done", file=sys.stderr)
    finally:
        for proc in [pub, *busy]:
            proc.terminate()
            proc.wait(10)
        executor.shutdown()
        server.trigger_shutdown()
        server.destroy_node()
        rclpy.try_shutdown()

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    report = {"machine": f"{cpu}, {os.cpu_count()} cores", "preset": args.preset, "seconds": args.seconds,
              "load_avg_1min": os.getloadavg()[0], "load_avg_1min_before": load_before, "busy_processes": args.load,
              "control_priority": server.params.control_priority, "torch_threads": server.params.torch_threads,
              "control_process": server.params.control_process,
              "sleep_model_ms": args.sleep_model, "results": results}  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=2))
    cols = ["rate_hz", "load_avg_1min", "period_p50_ms", "period_p99_ms", "jitter_p99_ms", "missed_periods",
            "hold_ticks", "chunks", "inference_p50_ms", "obs_to_command_p50_ms", "cpu_percent_of_one_core"]  # fmt: skip
    where = "control process" if server.params.control_process else "control thread"
    print(f"machine: {report['machine']}, load {report['load_avg_1min']:.1f}; policy {args.preset}; {where}")
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
