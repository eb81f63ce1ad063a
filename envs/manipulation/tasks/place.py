"""Put the {colour} {object} in the {bowl_colour} bowl (released inside it; a second bowl distracts)."""

from __future__ import annotations

import numpy as np

from ..props import combos
from ..scene import TabletopScene
from .base import Episode, LayoutBuilder, Task, choose, random_colour

BOWL_INNER_RADIUS = 0.055  # m; the prop's centre must be this close to the bowl's centre


class PlaceTask(Task):
    name = "place"
    summary = "put the {colour} {object} in the {bowl_colour} bowl"
    max_steps = 100

    def sample(self, rng: np.random.Generator, split: str, scene: TabletopScene) -> Episode:
        b = LayoutBuilder(scene, rng)
        bowl_colour = random_colour(rng)
        bowl = b.add(bowl_colour, "bowl")
        b.add(random_colour(rng, exclude={bowl_colour}), "bowl")
        target_kind = choose(rng, combos(split))
        target = b.add(target_kind.colour, target_kind.shape)
        for kind in b.distractor_kinds([target_kind], split, count=2):
            b.add(kind.colour, kind.shape)
        fields = {"colour": target.colour, "object": target.shape, "bowl_colour": bowl_colour}
        return Episode(self.name, b.layout, target.body, fields, reference=bowl.body)

    def is_success(self, scene: TabletopScene, episode: Episode) -> bool:
        p, bowl = scene.prop_pos(episode.target), scene.prop_pos(episode.reference)
        inside = np.hypot(*(p[:2] - bowl[:2])) < BOWL_INNER_RADIUS and p[2] < bowl[2] + 0.06
        return bool(inside and not scene.is_touched_by_gripper(episode.target))
