"""Stack the {colour} cube on the {base_colour} cube (released, resting centred on top)."""

from __future__ import annotations

import numpy as np

from ..props import combos
from ..scene import TabletopScene
from .base import Episode, LayoutBuilder, Task, choose

XY_TOLERANCE = 0.022  # m between the two cubes' centres


class StackTask(Task):
    name = "stack"
    summary = "stack the {colour} cube on the {base_colour} cube"
    max_steps = 100

    def sample(self, rng: np.random.Generator, split: str, scene: TabletopScene) -> Episode:
        b = LayoutBuilder(scene, rng)
        top_kind = choose(rng, combos(split, ("cube",)))
        top = b.add(top_kind.colour, "cube")
        base_colours = [k.colour for k in combos("train" if split == "train" else None, ("cube",))]
        base = b.add(choose(rng, [c for c in base_colours if c != top_kind.colour]), "cube")
        exclude = [top_kind, type(top_kind)(base.colour, "cube")]
        for kind in b.distractor_kinds(exclude, split, count=int(rng.integers(2, 4))):
            b.add(kind.colour, kind.shape)
        fields = {"colour": top.colour, "object": "cube", "base_colour": base.colour}
        return Episode(self.name, b.layout, top.body, fields, reference=base.body)

    def is_success(self, scene: TabletopScene, episode: Episode) -> bool:
        top, base = scene.prop_pos(episode.target), scene.prop_pos(episode.reference)
        size = 2 * scene.rest_height("cube")
        stacked = np.hypot(*(top[:2] - base[:2])) < XY_TOLERANCE and abs(top[2] - base[2] - size) < 0.01
        return bool(stacked and not scene.is_touched_by_gripper(episode.target))
