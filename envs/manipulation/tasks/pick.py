"""Pick up the {colour} {object}: lift the named prop 5 cm off the table and hold it."""

from __future__ import annotations

import numpy as np

from ..props import combos
from ..scene import TabletopScene
from .base import Episode, LayoutBuilder, Task, choose

LIFT_HEIGHT = 0.05  # m above the resting height


class PickTask(Task):
    name = "pick"
    summary = "pick up the {colour} {object} (lift it 5 cm and hold it)"
    max_steps = 60

    def sample(self, rng: np.random.Generator, split: str, scene: TabletopScene) -> Episode:
        b = LayoutBuilder(scene, rng)
        target_kind = choose(rng, combos(split))
        target = b.add(target_kind.colour, target_kind.shape)
        for kind in b.distractor_kinds([target_kind], split, count=int(rng.integers(2, 4))):
            b.add(kind.colour, kind.shape)
        return Episode(self.name, b.layout, target.body, {"colour": target.colour, "object": target.shape})

    def is_success(self, scene: TabletopScene, episode: Episode) -> bool:
        shape = episode.layout.by_body(episode.target).shape
        z = scene.prop_pos(episode.target)[2]
        return bool(z > scene.rest_height(shape) + LIFT_HEIGHT and scene.is_touched_by_gripper(episode.target))

    def goal_position(self, scene: TabletopScene, episode: Episode) -> np.ndarray:
        """Twice the success height above where the target started."""
        placement = episode.layout.by_body(episode.target)
        return np.array([*placement.xy, scene.rest_height(placement.shape) + 2 * LIFT_HEIGHT])
