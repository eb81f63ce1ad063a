"""Benchmark the manipulation suite: env steps/s with both cameras rendering, and the scripted
experts' success rate and episodes per minute, per task.

    MUJOCO_GL=egl .venv/bin/python bench/bench_suite.py                 # 100 expert seeds per task
    MUJOCO_GL=egl .venv/bin/python bench/bench_suite.py --episodes 20 --json out.json

Prints a markdown table (pasted into README.md) and writes JSON with the machine description.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from machine import machine  # noqa: E402  (bench/machine.py; scripts run from bench/)
from rollouts import expert_episode, steps_per_second  # noqa: E402

import vla.envs as E  # noqa: E402
from vla.policies.experts import make_expert  # noqa: E402


def env_steps_per_second(task: str, image_size: int, steps: int) -> float:
    env = E.make_env(task, image_size=image_size)
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    rate = steps_per_second(env, lambda: rng.uniform(low, high).astype(np.float32), steps)
    env.close()
    return rate


def expert_stats(task: str, image_size: int, episodes: int, seed0: int) -> dict:
    env = E.make_env(task, image_size=image_size)
    expert = make_expert(env)
    successes, lengths, failed = 0, [], []
    t0 = time.perf_counter()
    for seed in range(seed0, seed0 + episodes):
        n, info = expert_episode(env, expert, seed)
        successes += info["is_success"]
        lengths.append(n)
        if not info["is_success"]:
            failed.append(seed)
    elapsed = time.perf_counter() - t0
    env.close()
    return {
        "success_rate": successes / episodes,
        "episodes": episodes,
        "mean_length": float(np.mean(lengths)),
        "episodes_per_minute": episodes / elapsed * 60,
        "failed_seeds": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="expert episodes (seeds) per task")
    parser.add_argument("--steps", type=int, default=300, help="random-action env steps per task for the speed test")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=10_000, help="first expert seed (tests use other seeds)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    rows = {}
    for task in E.TASK_NAMES:
        rows[task] = {"env_steps_per_second": env_steps_per_second(task, args.image_size, args.steps)}
        rows[task].update(expert_stats(task, args.image_size, args.episodes, args.seed))
        print(f"{task}: {rows[task]}", flush=True)

    print(
        f"\nMachine: {machine()}; two {args.image_size}x{args.image_size} cameras, "
        f"MUJOCO_GL={os.environ['MUJOCO_GL']}\n"
    )
    print("| task | env steps/s (2 cameras) | expert success | expert episodes/min | mean episode length |")
    print("|---|---|---|---|---|")
    for task, r in rows.items():
        print(
            f"| {task} | {r['env_steps_per_second']:.0f} | {r['success_rate'] * 100:.0f}% of {r['episodes']} "
            f"| {r['episodes_per_minute']:.0f} | {r['mean_length']:.1f} steps |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "image_size": args.image_size, "tasks": rows}, f, indent=2)


if __name__ == "__main__":
    main()
