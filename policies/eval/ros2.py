"""`vla eval --transport ros2`: the same episodes, run through `vla sim-robot` and `vla serve` over real DDS.

Both nodes run as subprocesses (their logs go to OUT/ros2/); this process only resets episodes by seed
over /sim/reset and reads outcomes from /sim/episode. The sim robot runs in lockstep (one env step per
command the server publishes), so results do not depend on how fast this machine renders or infers.
Children get ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and this run's ROS_DOMAIN_ID (inherited, or a
random one), so a self-contained eval never talks to other machines or other runs.

The server runs in sync mode (`sync_mode: true`): one command per observation, stamped with it, chunks
computed exactly when in-process eval computes them (same executor, reset per episode), and safety limits
opened up to the env's own action bounds (the env clips as in-process). Per episode, lengths, success and
the trajectory digest (every action and the final state) are then identical to in-process eval on the same
checkpoint and seeds (for a deterministic head; generative heads draw their noise from each process's RNG).
"""

from __future__ import annotations

import atexit
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
from vla.errors import VlaUserError

from .rollout import EpisodeResult, TaskRollouts

STARTUP_S = 180.0
GRIPPER_WAIT_S = 2.0  # lockstep sim: wait this long for the gripper command of a step (it is sent first)
# Limits that never bind for TabletopEnv actions (|d| <= 0.03 m, |dyaw| <= 0.25 rad per 0.1 s step): the env
# clips actions itself, exactly as in-process, so the server must not change them.
OPEN_LIMITS = (
    "    max_linear_speed: 10.0\n    max_angular_speed: 20.0\n"
    "    workspace_min: [-10.0, -10.0, -10.0]\n    workspace_max: [10.0, 10.0, 10.0]\n"
)
SERVER_STATS = ("inference_latency_p50_ms", "inference_latency_p95_ms", "obs_to_command_p50_ms", "chunks_computed")


def ros_child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 101)))
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def open_session(cfg, policy, ensembling: str, n_action_steps: int, out: Path) -> Ros2EvalSession:
    """Check that the run can go over ROS 2, then start the policy server (sim robots start per task)."""
    from vla.ros_nodes.common import require_rclpy

    require_rclpy()
    if cfg.instructions:
        raise VlaUserError("--instructions is not supported with --transport ros2 (the sim robot uses its wordings)")
    import torch

    h, w = policy.config.image_size
    if h != w:
        raise VlaUserError(f"--transport ros2 needs square camera images; the checkpoint uses {h}x{w}")
    threads = cfg.threads or torch.get_num_threads()  # what in-process eval would use: same kernels, same sums
    server = ServerSettings(threads, cfg.device, ensembling, n_action_steps)
    return Ros2EvalSession(str(cfg.checkpoint), out, h, cfg.split, server)


@dataclass(frozen=True)
class ServerSettings:
    threads: int
    device: str
    ensembling: str
    n_action_steps: int

    def params_yaml(self) -> str:
        return (
            "vla_policy_server:\n  ros__parameters:\n"
            "    use_sim_time: true\n"  # stamps are sim time (/clock from the sim robot)
            "    sync_mode: true\n"
            f"    num_threads: {self.threads}\n    device: {self.device}\n"
            f"    ensembling: {self.ensembling}\n    n_action_steps: {self.n_action_steps}\n" + OPEN_LIMITS
        )


class Ros2EvalSession:
    """One policy server for the whole run, one lockstep sim robot per task, and a client node here."""

    def __init__(self, checkpoint: str, out: Path, image_size: int, split: str, server: ServerSettings):
        self.out = out / "ros2"
        self.out.mkdir(parents=True, exist_ok=True)
        self.image_size, self.split = image_size, split
        self.env = ros_child_env()
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        os.environ["ROS_DOMAIN_ID"] = self.env["ROS_DOMAIN_ID"]
        params = self.out / "policy_server.params.yaml"
        params.write_text(server.params_yaml())
        self.server_stats: dict[str, dict[str, float]] = {}  # task -> the server's diagnostics after it
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._spawn("server", "serve", "--checkpoint", checkpoint, "--params-file", params)
        self.sim: subprocess.Popen | None = None
        self._closed = False
        atexit.register(self.close)  # no orphaned nodes when the eval fails half-way
        self._start_client()

    def _spawn(self, name: str, *args: Any) -> subprocess.Popen:
        log = open(self.out / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vla.cli.main", *map(str, args)], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append((name, proc))
        return proc

    def _start_client(self) -> None:
        import rclpy

        from vla.ros_nodes.sim_robot.client import spin_in_background

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("vla_eval", context=self.context)
        self._diagnostics: dict[str, str] = {}
        from diagnostic_msgs.msg import DiagnosticArray

        from vla.ros_nodes.common.qos import DIAGNOSTICS_QOS
        from vla.ros_nodes.common.topics import TopicNames

        self.node.create_subscription(DiagnosticArray, TopicNames().diagnostics, self._on_diagnostics, DIAGNOSTICS_QOS)
        self.executor, self.thread = spin_in_background(self.node)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith("policy server"):
                self._diagnostics = {kv.key: kv.value for kv in status.values}

    def _check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.out / f"{name}.log").read_text().strip().splitlines()[-1:]
                raise VlaUserError(f"the {name} process exited ({proc.returncode}): {' '.join(tail)[:300]}")

    def rollout_task(self, task: str, seeds: list[int], videos: int, progress=None) -> TaskRollouts:
        from vla.ros_nodes.sim_robot.client import SimRobotClient

        self._stop_sim()
        self.sim = self._spawn(
            f"sim_{task}", "sim-robot", "--task", task, "--seed", seeds[0], "--image-size", self.image_size,
            "--split", self.split, "--lockstep", "--lockstep-gripper-wait-s", GRIPPER_WAIT_S,
        )  # fmt: skip
        client = SimRobotClient(self.node)
        # Up = the sim's first episode has stepped (the server is active and its commands arrive). Let that
        # episode finish: a reset in the middle of it could meet a command still in flight for it.
        self._wait(lambda: client.status is not None and client.status["step"] > 0, STARTUP_S, "sim robot or server")
        self._wait(lambda: client.status["done"], 60.0 + 2.0 * client.status["max_steps"], "the first episode")
        result = TaskRollouts()
        for ep, seed in enumerate(seeds):
            client.reset(seed)
            frames: list | None = [] if ep < videos else None
            seen = -1
            deadline = time.monotonic() + 30.0 + 2.0 * client.status.get("max_steps", 100)
            while not client.status["done"]:
                if frames is not None and client.stamp_ns != seen:
                    seen = client.stamp_ns
                    frames.append(_frame(client.latest()))
                self._check_alive()
                if time.monotonic() > deadline:
                    raise VlaUserError(f"episode with seed {seed} did not finish in time; see the logs in {self.out}")
                time.sleep(0.01)
            status = client.status
            success = bool(status["success"])
            result.episodes.append(
                EpisodeResult(seed, success, int(status["step"]), status["instruction"], status.get("digest", ""))
            )
            if frames is not None:
                result.videos.append((f"ep{ep:03d}_seed{seed}_{'success' if success else 'failure'}", frames))
            if progress is not None:
                progress.update(1)
                progress.set_postfix(success=f"{sum(e.success for e in result.episodes)}/{len(result.episodes)}")
        self._wait(lambda: self._diagnostics.get("commands_published", "0") != "0", 5.0, "server diagnostics")
        self.server_stats[task] = {k: float(self._diagnostics.get(k, "nan")) for k in SERVER_STATS}
        return result

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            self._check_alive()
            if time.monotonic() > deadline:
                raise VlaUserError(f"{what} not ready within {timeout:.0f} s; see the logs in {self.out}")
            time.sleep(0.05)

    def _stop_sim(self) -> None:
        if self.sim is not None:
            _terminate(self.sim)
            self.procs = [(n, p) for n, p in self.procs if p is not self.sim]
            self.sim = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        for _, proc in self.procs:
            _terminate(proc)
        self.procs = []


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log.close()  # type: ignore[attr-defined]


def _frame(obs: dict):
    import numpy as np

    both = np.concatenate([obs[OBS_IMAGE_SCENE], obs[OBS_IMAGE_WRIST]], axis=1)
    return np.repeat(np.repeat(both, 2, axis=0), 2, axis=1)
