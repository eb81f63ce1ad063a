"""`vla eval`: closed-loop evaluation of a checkpoint in the MuJoCo suite."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from vla.errors import VlaUserError

from .config import EvalConfig


def _tasks(spec: str) -> list[str]:
    from vla.envs import TASK_NAMES
    from vla.errors import unknown_name_error

    if spec == "all":
        return list(TASK_NAMES)
    tasks = [t.strip() for t in spec.split(",") if t.strip()]
    for t in tasks:
        if t not in TASK_NAMES:
            raise unknown_name_error("task", t, [*TASK_NAMES, "all"])
    return tasks


def run_eval(cfg: EvalConfig) -> int:
    import torch
    from tqdm import tqdm

    from vla.envs.manipulation.instructions import load_instruction_file
    from vla.policy.checkpoint import load_policy

    from .decoding import apply_decoding
    from .navigation import is_navigation_spec, run_nav_eval
    from .report import plot_success, write_video
    from .rollout import batch1_latency_ms, make_vector_env, rollout_task
    from .stats import percentiles, wilson_interval

    if is_navigation_spec(cfg.task):
        return run_nav_eval(cfg)
    if cfg.env_address is not None:
        raise VlaUserError("--env-address is for the navigation tasks (e.g. --task pointnav against a Habitat server)")
    if not cfg.turn_reversal or cfg.stop_threshold or cfg.stuck_recovery:
        raise VlaUserError(
            "--no-turn-reversal, --stop-threshold and --stuck-recovery are for the navigation tasks' discrete "
            "actions; drop them for the tabletop"
        )
    if cfg.split not in ("train", "heldout"):
        raise VlaUserError(f"--split {cfg.split} is for the navigation tasks; tabletop tasks use train or heldout")
    tasks = _tasks(cfg.task)
    if cfg.episodes < 1 or cfg.num_envs < 1:
        raise VlaUserError("--episodes and --num-envs must be >= 1")
    wordings = load_instruction_file(cfg.instructions) if cfg.instructions else None
    if wordings is not None:
        missing = [t for t in tasks if t not in wordings]
        if missing:
            raise VlaUserError(
                f"instruction file {cfg.instructions} has no wordings for {missing}; add lines 'task: ...'"
            )
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise VlaUserError(f"--out {out} is a file; pass a directory")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy = load_policy(cfg.checkpoint, device=cfg.device)
    decoding = apply_decoding(policy, cfg.decoding, cfg.temperature, cfg.top_p)
    pc = policy.config
    ensembling = pc.ensembling if cfg.ensembling == "checkpoint" else cfg.ensembling
    n_action_steps = cfg.n_action_steps or pc.n_action_steps
    if not (1 <= n_action_steps <= pc.chunk_size):
        raise VlaUserError(f"--n-action-steps must be in 1..{pc.chunk_size}")
    out.mkdir(parents=True, exist_ok=True)
    session = None
    if cfg.transport == "ros2":
        from .ros2 import open_session

        session = open_session(cfg, policy, ensembling, n_action_steps, out)

    report: dict = {
        "checkpoint": str(cfg.checkpoint),
        "split": cfg.split,
        "episodes_per_task": cfg.episodes,
        "seed": cfg.seed,
        "ensembling": ensembling,
        **({"decoding": decoding} if decoding else {}),
        "n_action_steps": n_action_steps,
        "instructions_file": str(cfg.instructions) if cfg.instructions else None,
        "transport": cfg.transport,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "tasks": {},
    }
    all_latency: list[float] = []
    for task in tasks:
        num_envs = cfg.num_envs if session is None else 1  # ros2: the env only serves the latency measurement
        envs = make_vector_env(task, num_envs, cfg.vector, pc.image_size, cfg.split)
        seeds = [cfg.seed + i for i in range(cfg.episodes)]
        with tqdm(total=cfg.episodes, desc=f"eval {task}", unit="ep") as bar:
            if session is not None:
                r = session.rollout_task(task, seeds, cfg.videos, bar)
            else:
                r = rollout_task(
                    policy,
                    envs,
                    seeds,
                    wordings.get(task) if wordings else None,
                    cfg.videos,
                    ensembling,
                    n_action_steps,
                    bar,
                )
        obs, infos = envs.reset(seed=[cfg.seed + 10**6 + i for i in range(num_envs)])
        latency = batch1_latency_ms(policy, obs, str(infos["instruction"][0]))
        envs.close()
        all_latency += latency
        successes = sum(e.success for e in r.episodes)
        lengths = [e.length for e in r.episodes]
        report["tasks"][task] = {
            "episodes": len(r.episodes),
            "successes": successes,
            "success_rate": successes / len(r.episodes),
            "ci95": list(wilson_interval(successes, len(r.episodes))),
            "mean_length": float(np.mean(lengths)),
            "lengths": lengths,
            "latency_ms_batch1": percentiles(latency),
            "latency_ms_per_call": percentiles(r.chunk_latency_ms),
            "mean_batch_per_call": float(np.mean(r.chunk_batch_sizes)) if r.chunk_batch_sizes else 0.0,
            "example_instructions": sorted({e.instruction for e in r.episodes})[:5],
            "failed_seeds": [e.seed for e in r.episodes if not e.success],
            "trajectory_digests": [e.digest for e in r.episodes],
        }
        for name, frames in r.videos:
            write_video(out / "videos" / task / f"{name}.mp4", frames, fps=10)
    if session is not None:
        session.close()
        report["ros2"] = {"server": session.server_stats}  # per task: the policy server's own timing
    rates = [t["success_rate"] for t in report["tasks"].values()]
    total_s = sum(t["successes"] for t in report["tasks"].values())
    total_n = sum(t["episodes"] for t in report["tasks"].values())
    report["mean_success_rate"] = float(np.mean(rates))
    report["overall_ci95"] = list(wilson_interval(total_s, total_n))
    report["latency_ms_batch1"] = percentiles(all_latency)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot_success(out / "success.png", report)
    print(f"\n{'task':8s} {'success':>9s}  95% CI          mean len")
    for task, t in report["tasks"].items():
        lo, hi = t["ci95"]
        print(f"{task:8s} {t['success_rate'] * 100:8.1f}%  [{lo * 100:4.1f}, {hi * 100:5.1f}]   {t['mean_length']:.1f}")
    lat = report["latency_ms_batch1"]
    print(
        f"mean success {report['mean_success_rate'] * 100:.1f}%; "
        f"inference p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms per chunk (batch 1)"
    )
    print(f"[eval] report: {out / 'report.json'}, plot: {out / 'success.png'}, videos: {out / 'videos'}")
    return 0
