"""Push the {colour} {object} to the {left/right/front} of the table (directions in the robot's frame)."""

from __future__ import annotations

import numpy as np

from ..props import PUSHABLE_SHAPES, combos
from ..scene import TabletopScene
from .base import Episode, LayoutBuilder, Task, choose

# Goal regions in the robot's frame: left is +y, right is -y, front is +x (away from the robot).
DIRECTIONS: dict[str, np.ndarray] = {
    "left": np.array([0.0, 1.0]),
    "right": np.array([0.0, -1.0]),
    "front": np.array([1.0, 0.0]),
}
GOAL_Y = 0.15  # |y| beyond which an object is at the left / right of the table
GOAL_X = 0.52  # x beyond which an object is at the front of the table
START_X, START_Y = (0.34, 0.42), (-0.04, 0.04)


def in_goal(xy: np.ndarray, direction: str) -> bool:
    if direction == "left":
        return bool(xy[1] >= GOAL_Y)
    if direction == "right":
        return bool(xy[1] <= -GOAL_Y)
    return bool(xy[0] >= GOAL_X)


class PushTask(Task):
    name = "push"
    summary = "push the {colour} {object} to the {direction} of the table (robot's frame)"
    max_steps = 80

    def sample(self, rng: np.random.Generator, split: str, scene: TabletopScene) -> Episode:
        b = LayoutBuilder(scene, rng)
        direction = choose(rng, list(DIRECTIONS))
        target_kind = choose(rng, combos(split, PUSHABLE_SHAPES))
        target = b.add(target_kind.colour, target_kind.shape, xy_range=(START_X, START_Y))
        start, d = np.array(target.xy), DIRECTIONS[direction]
        # Keep the push corridor and the approach point behind the object clear of distractors.
        keepout = [(start + t * d, 0.09) for t in np.linspace(-0.09, 0.22, 8)]
        for kind in b.distractor_kinds([target_kind], split, count=int(rng.integers(2, 4)), shapes=PUSHABLE_SHAPES):
            b.add(kind.colour, kind.shape, keepout=keepout)
        fields = {"colour": target.colour, "object": target.shape, "direction": direction}
        return Episode(self.name, b.layout, target.body, fields, direction=direction)

    def is_success(self, scene: TabletopScene, episode: Episode) -> bool:
        p = scene.prop_pos(episode.target)
        shape = episode.layout.by_body(episode.target).shape
        on_table = p[2] < scene.rest_height(shape) + 0.01
        return bool(in_goal(p[:2], episode.direction) and on_table and not scene.is_touched_by_gripper(episode.target))

    def goal_position(self, scene: TabletopScene, episode: Episode) -> np.ndarray:
        """A point 3 cm inside the goal region, straight from where the target started."""
        placement = episode.layout.by_body(episode.target)
        x, y = placement.xy
        if episode.direction == "left":
            y = GOAL_Y + 0.03
        elif episode.direction == "right":
            y = -GOAL_Y - 0.03
        else:
            x = GOAL_X + 0.03
        return np.array([x, y, scene.rest_height(placement.shape)])
