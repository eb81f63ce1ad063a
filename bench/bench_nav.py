"""Benchmark the navigation suite: env steps/s (RGB-D rendering), episode resets/s, and the
shortest-path expert's success rate, SPL and SoftSPL per task and action type.

    MUJOCO_GL=egl .venv/bin/python bench/bench_nav.py                    # 100 expert episodes per row
    MUJOCO_GL=egl .venv/bin/python bench/bench_nav.py --episodes 20 --split val --json out.json
    MUJOCO_GL=egl .venv/bin/python bench/bench_nav.py --expert clearance --action-types discrete --no-speed

Prints a markdown table (pasted into README.md) and writes JSON with the machine description.
Expert episodes use seeds 10000.. on the chosen split (tests use other seeds).
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
from vla.policies.experts import NAV_EXPERTS, SEARCH_EXPERTS, make_nav_expert  # noqa: E402


def env_speed(task: str, image_size: int, steps: int) -> dict:
    env = E.make_env(task, image_size=image_size)
    rng = np.random.default_rng(0)
    rate = steps_per_second(env, lambda: int(rng.integers(1, 4)), steps)  # never STOP: measures stepping
    t0 = time.perf_counter()
    resets = 10
    for seed in range(1, resets + 1):
        env.reset(seed=seed)  # a new house each time: generate, compile, renderer, geodesic field
    reset_s = (time.perf_counter() - t0) / resets
    env.close()
    return {"env_steps_per_second": rate, "reset_seconds": reset_s}


def expert_stats(
    task: str, action_type: str, image_size: int, episodes: int, seed0: int, split: str, kind: str = "shortest"
) -> dict:
    env = E.make_env(task, image_size=image_size, action_type=action_type, split=split)
    expert = make_nav_expert(env, kind)
    rows = []
    t0 = time.perf_counter()
    for seed in range(seed0, seed0 + episodes):
        n, info = expert_episode(env, expert, seed)
        keys = ("success", "spl", "softspl", "collisions")
        rows.append((seed, *(info[k] for k in keys), n, info["start_distance"]))
    elapsed = time.perf_counter() - t0
    env.close()
    seeds, success, spl, softspl, collisions, length, start = (np.array(c) for c in zip(*rows, strict=True))
    return {
        "episodes": episodes,
        "success_rate": float(success.mean()),
        "spl": float(spl.mean()),
        "softspl": float(softspl.mean()),
        "mean_collisions": float(collisions.mean()),
        "mean_length": float(length.mean()),
        "mean_geodesic_start_distance": float(start.mean()),
        "episodes_per_minute": episodes / elapsed * 60,
        "failed_seeds": [int(s) for s, ok in zip(seeds, success, strict=True) if not ok],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="expert episodes per task and action type")
    parser.add_argument("--steps", type=int, default=300, help="random-action env steps per task for the speed test")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--expert-image-size", type=int, default=32, help="camera size during expert runs")
    parser.add_argument("--split", default="test", help="houses for the expert runs (train, val, test)")
    parser.add_argument("--seed", type=int, default=10_000, help="first expert seed (tests use other seeds)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument(
        "--expert", default="shortest", choices=[e for e in NAV_EXPERTS if e not in SEARCH_EXPERTS],
        help="the teacher measured (vla collect --expert); the exploring one has its own tests",
    )  # fmt: skip
    parser.add_argument("--tasks", default=",".join(E.NAV_TASK_NAMES), help="comma list of navigation tasks")
    parser.add_argument("--action-types", default="discrete,velocity", help="comma list: discrete, velocity")
    parser.add_argument("--no-speed", action="store_true", help="skip the env-speed rows (expert rows only)")
    args = parser.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(E.NAV_TASK_NAMES))
    if unknown:
        parser.error(f"unknown navigation task(s) {unknown}; choose from {', '.join(E.NAV_TASK_NAMES)}")

    speed = {} if args.no_speed else {t: env_speed(t, args.image_size, args.steps) for t in tasks}
    for t, r in speed.items():
        print(f"{t}: {r}", flush=True)
    experts = {}
    for t in tasks:
        for a in [a.strip() for a in args.action_types.split(",") if a.strip()]:
            experts[f"{t}/{a}"] = expert_stats(
                t, a, args.expert_image_size, args.episodes, args.seed, args.split, args.expert
            )
            print(f"{t}/{a}: {experts[f'{t}/{a}']}", flush=True)

    size = f"{args.image_size}x{args.image_size}"
    print(f"\nMachine: {machine()}; RGB + depth {size}, MUJOCO_GL={os.environ['MUJOCO_GL']}\n")
    if speed:
        print("| task | env steps/s (RGB-D) | reset (new house) |")
        print("|---|---|---|")
    for t, r in speed.items():
        print(f"| {t} | {r['env_steps_per_second']:.0f} | {r['reset_seconds'] * 1000:.0f} ms |")
    print(f"\nExpert ({args.expert}), {args.episodes} episodes per row, {args.split} houses:\n")
    print("| task | actions | success | SPL | SoftSPL | collisions/episode | steps/episode | geodesic start distance |")
    print("|---|---|---|---|---|---|---|---|")
    for key, r in experts.items():
        t, a = key.split("/")
        print(
            f"| {t} | {a} | {r['success_rate'] * 100:.0f}% | {r['spl']:.3f} | {r['softspl']:.3f} | "
            f"{r['mean_collisions']:.1f} | {r['mean_length']:.1f} | {r['mean_geodesic_start_distance']:.1f} m |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "image_size": args.image_size, "expert": args.expert, "speed": speed,
                       "experts": experts}, f, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
