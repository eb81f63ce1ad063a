"""The deterministic plan of a collection: which tasks, and the env seed of every attempt."""

from __future__ import annotations

import math
import zlib

import numpy as np

from vla.errors import VlaUserError, unknown_name_error

# Seed streams are namespaced by purpose so that evaluation never replays training demonstrations.
SEED_PURPOSE_COLLECT = 0


def known_tasks() -> tuple[str, ...]:
    import vla.envs

    return tuple(vla.envs.TASK_NAMES) + tuple(vla.envs.NAV_TASK_NAMES)


def is_navigation(task: str) -> bool:
    import vla.envs

    return task in vla.envs.NAV_TASK_NAMES


def resolve_tasks(spec: str) -> tuple[str, ...]:
    """'pick' / 'pick,push' / 'all' / 'pointnav' -> task names in a fixed order, validated against the env
    suites. 'all' means every tabletop task; one dataset never mixes tabletop and navigation tasks."""
    import vla.envs

    names = known_tasks()
    if spec.strip() == "all":
        return tuple(vla.envs.TASK_NAMES)
    tasks: list[str] = []
    for raw in spec.split(","):
        name = raw.strip()
        if not name:
            continue
        if name not in names:
            raise unknown_name_error("task", name, [*names, "all"])
        if name not in tasks:
            tasks.append(name)
    if not tasks:
        raise unknown_name_error("task", spec, [*names, "all"])
    if len({is_navigation(t) for t in tasks}) > 1:
        raise VlaUserError(
            f"--task {spec!r} mixes tabletop and navigation tasks, whose cameras, state and actions differ; "
            "collect them into separate datasets"
        )
    return tuple(tasks)


def attempt_seed(base_seed: int, task: str, attempt: int) -> int:
    """Env seed of attempt `attempt` of `task`: a pure function of its arguments (32-bit)."""
    seq = np.random.SeedSequence(
        entropy=base_seed & 0xFFFFFFFFFFFFFFFF, spawn_key=(SEED_PURPOSE_COLLECT, zlib.crc32(task.encode()), attempt)
    )
    return int(seq.generate_state(1, np.uint32)[0])


def max_attempts(episodes: int, factor: float) -> int:
    return max(episodes, math.ceil(episodes * factor))
