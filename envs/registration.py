"""gymnasium ids for every env in the suite, registered in one place."""

from __future__ import annotations

import gymnasium as gym

from vla.errors import unknown_name_error

NAMESPACE = "vla"
# gymnasium id -> tasks it samples from
MANIPULATION_IDS: dict[str, tuple[str, ...]] = {
    "vla/PickObject-v0": ("pick",),
    "vla/PlaceInBowl-v0": ("place",),
    "vla/PushToRegion-v0": ("push",),
    "vla/StackCubes-v0": ("stack",),
    "vla/TabletopMultiTask-v0": ("pick", "place", "push", "stack"),
}
TASK_TO_ID: dict[str, str] = {tasks[0]: env_id for env_id, tasks in MANIPULATION_IDS.items() if len(tasks) == 1}
ENTRY_POINT = "vla.envs.manipulation.tabletop_env:TabletopEnv"
# gymnasium id -> navigation task (envs/navigation/); a separate suite with its own observation schema.
NAVIGATION_IDS: dict[str, str] = {
    "vla/PointNav-v0": "pointnav",
    "vla/ObjectNav-v0": "objectnav",
    "vla/InstructNav-v0": "instructnav",
}
NAV_TASK_TO_ID: dict[str, str] = {task: env_id for env_id, task in NAVIGATION_IDS.items()}
NAV_ENTRY_POINT = "vla.envs.navigation.nav_env:NavigationEnv"
# Envs outside the MuJoCo suite; entry points are strings, so registering imports nothing heavy.
REMOTE_ID = "vla/Remote-v0"  # RemoteEnv(address=..., timeout_s=...): an env served by `vla env-server`
HABITAT_ID = "vla/Habitat-v0"  # habitat-sim scenes + habitat-lab episodes; needs habitat-sim (conda)
OTHER_ENTRY_POINTS: dict[str, str] = {
    REMOTE_ID: "vla.envs.server.client:RemoteEnv",
    HABITAT_ID: "vla.envs.habitat.env:HabitatNavEnv",
}


def register_all() -> None:
    for env_id, tasks in MANIPULATION_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"tasks": tasks}, disable_env_checker=True)
    for env_id, task in NAVIGATION_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=NAV_ENTRY_POINT, kwargs={"task": task}, disable_env_checker=True)
    for env_id, entry_point in OTHER_ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=True)


def make_env(task: str, **kwargs) -> gym.Env:
    """Make an env by task name ('pick', ..., 'all': tabletop multi-task; 'pointnav', ...) or gymnasium id."""
    register_all()
    if task in NAVIGATION_IDS or task in NAV_TASK_TO_ID:
        return gym.make(NAV_TASK_TO_ID.get(task, task), **kwargs)
    if task in MANIPULATION_IDS:
        env_id = task
    elif task == "all":
        env_id = "vla/TabletopMultiTask-v0"
    elif task in TASK_TO_ID:
        env_id = TASK_TO_ID[task]
    elif "," in task:
        tasks = tuple(t.strip() for t in task.split(","))
        for t in tasks:
            if t not in TASK_TO_ID:
                raise unknown_name_error("task", t, TASK_TO_ID)
        return gym.make("vla/TabletopMultiTask-v0", tasks=tasks, **kwargs)
    else:
        raise unknown_name_error("task", task, [*TASK_TO_ID, "all", *NAV_TASK_TO_ID])
    return gym.make(env_id, **kwargs)
