"""`vla tasks`: list the manipulation tasks, their gymnasium ids, wordings and split."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TasksConfig:
    """List every task of the tabletop suite with its gymnasium id, time limit and instruction wordings."""

    split: str = "train"
    """Which wordings to show: train or heldout."""


def run_tasks(cfg: TasksConfig) -> int:
    from vla.envs import TASK_TO_ID
    from vla.envs.manipulation.config import TabletopConfig
    from vla.envs.manipulation.instructions import TEMPLATES
    from vla.envs.manipulation.props import combos
    from vla.envs.manipulation.tasks import TASKS

    TabletopConfig(split=cfg.split)  # validates the split name
    for name, cls in TASKS.items():
        print(f"{name:6s} {TASK_TO_ID[name]:24s} {cls.max_steps:3d} steps  {cls.summary}")
        for t in TEMPLATES[name][cfg.split]:
            print(f"         - {t}")
    print("\nmulti-task: vla/TabletopMultiTask-v0 (samples a task per episode)")
    held = ", ".join(k.label for k in combos("heldout"))
    print(f"held-out colour-shape combinations (never in train data): {held}")
    return 0
