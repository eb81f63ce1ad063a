"""Task interface and the layout sampling that all tabletop tasks share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..props import COLOURS, GRASPABLE_SHAPES, PropKind, combos
from ..scene import Layout, PropPlacement, TabletopScene

# Where props may be placed (base frame, m): in front of the robot, inside the arm's easy reach.
REGION_X = (0.28, 0.56)
REGION_Y = (-0.24, 0.24)
MIN_GAP = 0.085  # centre-to-centre distance between small props
BOWL_GAP = 0.13  # between a bowl and any other prop


@dataclass
class Episode:
    """Everything that defines one episode, sampled from the seed."""

    task: str
    layout: Layout
    target: str  # body of the prop the instruction is about
    fields: dict[str, str]  # template fields, e.g. {"colour": "red", "object": "cube"}
    reference: str | None = None  # bowl or base cube body
    direction: str | None = None  # push goal region
    extras: dict[str, float] = field(default_factory=dict)


class Task(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    max_steps: ClassVar[int]  # time limit at the 10 Hz control rate

    @abstractmethod
    def sample(self, rng: np.random.Generator, split: str, scene: TabletopScene) -> Episode: ...

    @abstractmethod
    def is_success(self, scene: TabletopScene, episode: Episode) -> bool: ...

    def goal_position(self, scene: TabletopScene, episode: Episode) -> np.ndarray:
        """Where the target should end up (base frame, m): the reference prop (bowl, base cube) by default.

        Privileged information: datasets record it as `observation.environment_state` for auxiliary
        training losses; policies never receive it as an input.
        """
        if episode.reference is None:
            raise NotImplementedError(f"task {self.name!r} has no reference prop; override goal_position")
        return scene.prop_pos(episode.reference)


class LayoutBuilder:
    """Assigns pool bodies to prop kinds and samples non-overlapping positions."""

    def __init__(self, scene: TabletopScene, rng: np.random.Generator):
        self.scene, self.rng = scene, rng
        self.layout = Layout()
        self._used: dict[str, int] = {}

    def free_bodies(self, shape: str) -> int:
        return len(self.scene.pool[shape]) - self._used.get(shape, 0)

    def _gap(self, a: str, b: str) -> float:
        return BOWL_GAP if "bowl" in (a, b) else MIN_GAP

    def position_ok(self, xy: np.ndarray, shape: str, keepout: list[tuple[np.ndarray, float]]) -> bool:
        for p in self.layout.props:
            if np.hypot(*(xy - p.xy)) < self._gap(shape, p.shape):
                return False
        return all(np.hypot(*(xy - c)) >= r for c, r in keepout)

    def add(
        self,
        colour: str,
        shape: str,
        xy_range: tuple[tuple[float, float], tuple[float, float]] = (REGION_X, REGION_Y),
        keepout: list[tuple[np.ndarray, float]] | None = None,
        tries: int = 200,
    ) -> PropPlacement:
        body = self.scene.pool[shape][self._used.get(shape, 0)]
        (x0, x1), (y0, y1) = xy_range
        margin = 0.07 if shape == "bowl" else 0.0
        for _ in range(tries):
            xy = np.array([self.rng.uniform(x0 + margin, x1 - margin), self.rng.uniform(y0 + margin, y1 - margin)])
            if self.position_ok(xy, shape, keepout or []):
                break
        else:
            raise RuntimeError("could not place props without overlap")
        self._used[shape] = self._used.get(shape, 0) + 1
        yaw = float(self.rng.uniform(-math.pi / 4, math.pi / 4)) if shape == "cube" else 0.0
        placement = PropPlacement(body, shape, colour, (float(xy[0]), float(xy[1])), yaw)
        self.layout.props.append(placement)
        return placement

    def distractor_kinds(
        self, exclude: list[PropKind], split: str, count: int, shapes: tuple[str, ...] = GRASPABLE_SHAPES
    ) -> list[PropKind]:
        """Distractors that make the instruction necessary: one shares the target's shape, one its colour.

        In the train split distractors are train combinations too, so held-out combinations never
        appear in training data at all.
        """
        pool = [k for k in combos("train" if split == "train" else None, shapes) if k not in exclude]
        target = exclude[0]
        chosen: list[PropKind] = []

        def pick(cands: list[PropKind]) -> None:
            cands = [c for c in cands if c not in chosen and self._fits(chosen + [c], exclude)]
            if cands:
                chosen.append(cands[self.rng.integers(len(cands))])

        pick([k for k in pool if k.shape == target.shape and k.colour != target.colour])
        pick([k for k in pool if k.colour == target.colour and k.shape != target.shape])
        while len(chosen) < count:
            before = len(chosen)
            pick(pool)
            if len(chosen) == before:
                break
        return chosen[:count]

    def _fits(self, kinds: list[PropKind], exclude: list[PropKind]) -> bool:
        need: dict[str, int] = {}
        for k in kinds + exclude:
            need[k.shape] = need.get(k.shape, 0) + 1
        return all(need[s] <= len(self.scene.pool[s]) for s in need)


def random_colour(rng: np.random.Generator, exclude: set[str] = frozenset()) -> str:
    names = [c for c in COLOURS if c not in exclude]
    return names[rng.integers(len(names))]


def choose(rng: np.random.Generator, items: list):
    return items[rng.integers(len(items))]
