"""Timing helpers shared by the env benchmarks (bench_suite.py, bench_nav.py)."""

from __future__ import annotations

import time
from collections.abc import Callable


def steps_per_second(env, random_action: Callable[[], object], steps: int) -> float:
    """Env steps per second under random actions (after 5 warm-up steps), resetting on episode end."""
    env.reset(seed=0)
    for _ in range(5):  # warm up the renderer
        env.step(random_action())
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(random_action())
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def expert_episode(env, expert, seed: int) -> tuple[int, dict]:
    """Roll out the expert for one episode; returns (steps, the last step's info)."""
    obs, _ = env.reset(seed=seed)
    expert.reset()
    n = 0
    while True:
        obs, _, term, trunc, info = env.step(expert.act(obs))
        n += 1
        if term or trunc:
            return n, info
