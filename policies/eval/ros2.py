"""`vla eval --transport ros2`: the same episodes, run through `vla sim-robot` and `vla serve` over real DDS.

Both nodes run as subprocesses (their logs go to OUT/ros2/); this process only resets episodes by seed
over /sim/reset and reads outcomes from /sim/episode. The sim robot runs in lockstep (one env step per
command the server publishes), so results do not depend on how fast this machine renders or infers.
Children get ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and this run's ROS_DOMAIN_ID (inherited, or a
random one), so a self-contained eval never talks to other machines or other runs.

Known difference to in-process eval: the server publishes a hold (zero twist) on the first tick of an
episode while its first chunk is computed, and later chunks are computed from the observation one tick
before they start executing (latency hiding); the sim counts the hold as a step.
"""

from __future__ import annotations

import atexit
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
from vla.errors import VlaUserError

from .rollout import EpisodeResult, TaskRollouts

STARTUP_S = 180.0
SERVER_OBS_TIMEOUT_S = 0.5  # the server drops its chunk after this long without observations
BETWEEN_EPISODES_S = SERVER_OBS_TIMEOUT_S + 0.3  # so every episode starts from an empty chunk queue


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
    if ensembling != "none":
        raise VlaUserError(
            f"--transport ros2 executes chunks without ensembling; pass --ensembling none (not {ensembling})"
        )
    h, w = policy.config.image_size
    if h != w:
        raise VlaUserError(f"--transport ros2 needs square camera images; the checkpoint uses {h}x{w}")
    min_remaining = policy.config.chunk_size - n_action_steps
    return Ros2EvalSession(str(cfg.checkpoint), out, h, cfg.split, cfg.threads or 1, cfg.device, min_remaining)


class Ros2EvalSession:
    """One policy server for the whole run, one lockstep sim robot per task, and a client node here."""

    def __init__(
        self, checkpoint: str, out: Path, image_size: int, split: str, threads: int, device: str, min_remaining: int
    ):
        self.out = out / "ros2"
        self.out.mkdir(parents=True, exist_ok=True)
        self.image_size, self.split = image_size, split
        self.env = ros_child_env()
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        os.environ["ROS_DOMAIN_ID"] = self.env["ROS_DOMAIN_ID"]
        params = self.out / "policy_server.params.yaml"
        params.write_text(
            "vla_policy_server:\n  ros__parameters:\n"
            "    use_sim_time: true\n"  # stamps are sim time (/clock from the sim robot)
            f"    num_threads: {threads}\n    device: {device}\n    min_remaining_actions: {min_remaining}\n"
            f"    obs_timeout_s: {SERVER_OBS_TIMEOUT_S}\n"
        )
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
        self.executor, self.thread = spin_in_background(self.node)

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
            "--split", self.split, "--lockstep",
        )  # fmt: skip
        client = SimRobotClient(self.node)
        deadline = time.monotonic() + STARTUP_S
        # Up = the sim's first episode has stepped, i.e. the server is active and its commands arrive.
        while not (client.status is not None and (client.status["step"] > 0 or client.status["done"])):
            self._check_alive()
            if time.monotonic() > deadline:
                raise VlaUserError(f"sim robot or policy server not up within {STARTUP_S:.0f} s; see {self.out}")
            time.sleep(0.1)
        result = TaskRollouts()
        for ep, seed in enumerate(seeds):
            time.sleep(BETWEEN_EPISODES_S)
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
            result.episodes.append(EpisodeResult(seed, success, int(status["step"]), status["instruction"]))
            if frames is not None:
                result.videos.append((f"ep{ep:03d}_seed{seed}_{'success' if success else 'failure'}", frames))
            if progress is not None:
                progress.update(1)
                progress.set_postfix(success=f"{sum(e.success for e in result.episodes)}/{len(result.episodes)}")
        return result

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
