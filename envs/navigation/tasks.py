"""Navigation tasks: how an episode's goal, start and instruction are drawn in a house.

A task turns (house, occupancy grid, geodesic graph, rng) into a `NavEpisode`: the goal's geodesic
distance field, a start pose at a useful geodesic distance from it, and the instruction. Tasks are
registered by name; `register_task` adds new ones without editing this file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vla.errors import unknown_name_error

from .geodesic import DistanceField, GeodesicGraph
from .layout import House, PlacedObject
from .motion import Pose, wrap_angle
from .occupancy import OccupancyGrid

MIN_START_DISTANCE = 1.0  # m geodesic; closer starts are trivial
MAX_START_DISTANCE = 20.0


@dataclass
class NavEpisode:
    task: str
    layout_seed: int
    start: Pose
    field: DistanceField
    shortest: float  # geodesic start -> goal (l = d_0)
    success_distance: float  # success: STOP with distance_to_goal < this
    instruction: str
    goal_point: tuple[float, float] | None = None
    goal_objects: tuple[int, ...] = ()
    goal_category: str = ""


class NavTask:
    name: ClassVar[str]
    summary: ClassVar[str]
    uses_pointgoal: ClassVar[bool] = False  # observation.state carries Habitat's pointgoal_with_gps_compass

    def sample(self, house: House, grid: OccupancyGrid, graph: GeodesicGraph, rng, cfg) -> NavEpisode | None:
        """An episode in this house, or None when the house offers no valid goal for the task."""
        raise NotImplementedError


def _sample_start(field: DistanceField, rng: np.random.Generator, lo=MIN_START_DISTANCE, hi=MAX_START_DISTANCE):
    cells = field.cells_within(lo, hi)
    if cells.size == 0:
        return None
    i, j = divmod(int(cells[int(rng.integers(cells.size))]), field.grid.shape[1])
    x, y = field.grid.center(i, j)
    return Pose(float(x), float(y), wrap_angle(float(rng.uniform(-math.pi, math.pi))))


def object_region(grid: OccupancyGrid, house: House, obj: PlacedObject, radius: float):
    """Goal region of one object: navigable floor within `radius` of its footprint, in its room.

    Returns the cell mask and the continuous membership test (the same rule at any point).
    Habitat measures ObjectNav success to "view points" (navigable points near the object from
    which it is visible); the same-room rule stands in for visibility through walls.
    """
    room = house.rooms[obj.room].interior
    fp = obj.footprint
    h, w = grid.shape
    x, y = grid.center(np.arange(h)[:, None], np.arange(w)[None, :])
    mask = grid.navigable & (fp.distance(x, y) <= radius) & (x >= room.x0) & (x <= room.x1)
    mask &= (y >= room.y0) & (y <= room.y1)

    def inside(px: float, py: float) -> bool:
        return room.contains(px, py) and float(fp.distance(px, py)) <= radius and grid.is_navigable(px, py)

    return mask, inside


def objects_goal(grid, graph, house, objects: list[PlacedObject], radius: float) -> DistanceField | None:
    masks, tests = zip(*(object_region(grid, house, o, radius) for o in objects), strict=True)
    mask = np.logical_or.reduce(masks)
    if not mask.any():
        return None
    return graph.region_goal(mask, lambda px, py: any(t(px, py) for t in tests))


# Success for object goals: STOP inside the region, where the distance to it is exactly 0.
REGION_SUCCESS_DISTANCE = 1e-6


class PointNav(NavTask):
    name = "pointnav"
    summary = "reach a goal point given relative to the agent (Habitat PointNav, GPS+compass)"
    uses_pointgoal = True

    def sample(self, house, grid, graph, rng, cfg):
        nav = np.flatnonzero(grid.navigable)
        for _ in range(20):
            i, j = divmod(int(nav[int(rng.integers(nav.size))]), grid.shape[1])
            gx, gy = (float(v) for v in grid.center(i, j))
            field = graph.point_goal(gx, gy)
            # Habitat's PointNav generator rejects most episodes whose geodesic/euclidean ratio is
            # below 1.1 (nearly straight shots); keep a fifth of them.
            start = None
            for _ in range(10):
                start = _sample_start(field, rng)
                if start is None:
                    break
                d = field.distance(start.x, start.y)
                if d / max(math.hypot(start.x - gx, start.y - gy), 1e-6) >= 1.1 or rng.random() < 0.2:
                    break
            if start is None:
                continue
            dx, dy = gx - start.x, gy - start.y
            c, s = math.cos(start.yaw), math.sin(start.yaw)
            fwd, left = c * dx + s * dy, -s * dx + c * dy
            instruction = (
                f"go to the point {abs(fwd):.1f} m {'ahead' if fwd >= 0 else 'behind'} and "
                f"{abs(left):.1f} m to the {'left' if left >= 0 else 'right'} of where you start"
            )
            return NavEpisode(
                self.name, house.seed, start, field, field.distance(start.x, start.y), cfg.success_distance,
                instruction, goal_point=(gx, gy),
            )  # fmt: skip
        return None


OBJECTNAV_TEMPLATES = (
    "find a {category}",
    "go to a {category}",
    "navigate to a {category}",
    "find the nearest {category}",
)


class ObjectNav(NavTask):
    name = "objectnav"
    summary = "go to any instance of a category: 'find a chair' (Habitat ObjectNav)"

    def sample(self, house, grid, graph, rng, cfg):
        categories = sorted({o.category for o in house.objects})
        rng.shuffle(categories)
        for category in categories:
            instances = [o for o in house.objects if o.category == category]
            field = objects_goal(grid, graph, house, instances, cfg.view_radius)
            start = _sample_start(field, rng) if field is not None else None
            if start is None:
                continue
            template = OBJECTNAV_TEMPLATES[int(rng.integers(len(OBJECTNAV_TEMPLATES)))]
            return NavEpisode(
                self.name, house.seed, start, field, field.distance(start.x, start.y), REGION_SUCCESS_DISTANCE,
                template.format(category=category), goal_objects=tuple(o.index for o in instances),
                goal_category=category,
            )  # fmt: skip
        return None


INSTRUCTNAV_TEMPLATES = (
    "go to the {colour} {category} in the room with the {lm_colour} {lm_category}",
    "find the {colour} {category} in the same room as the {lm_colour} {lm_category}",
    "navigate to the {colour} {category} in the room that has the {lm_colour} {lm_category}",
)


class InstructNav(NavTask):
    name = "instructnav"
    summary = "go to one described instance: 'the red chair in the room with the blue sofa'"

    def sample(self, house, grid, graph, rng, cfg):
        rooms_of: dict[str, set[int]] = {}
        for o in house.objects:
            rooms_of.setdefault(o.label, set()).add(o.room)
        pairs = []
        for t in house.objects:
            same_room_twins = [o for o in house.objects if o.room == t.room and o.label == t.label]
            if len(same_room_twins) > 1:
                continue  # the room would not single out the target
            for lm in house.objects:
                # The landmark names its room: its label appears in no other room.
                if lm.room == t.room and lm.index != t.index and lm.label != t.label and rooms_of[lm.label] == {t.room}:
                    pairs.append((t, lm))
        order = rng.permutation(len(pairs))
        for k in order:
            target, landmark = pairs[int(k)]
            field = objects_goal(grid, graph, house, [target], cfg.view_radius)
            start = _sample_start(field, rng) if field is not None else None
            if start is None:
                continue
            template = INSTRUCTNAV_TEMPLATES[int(rng.integers(len(INSTRUCTNAV_TEMPLATES)))]
            text = template.format(
                colour=target.colour, category=target.category, lm_colour=landmark.colour, lm_category=landmark.category
            )
            return NavEpisode(
                self.name, house.seed, start, field, field.distance(start.x, start.y), REGION_SUCCESS_DISTANCE,
                text, goal_objects=(target.index,), goal_category=target.category,
            )  # fmt: skip
        return None


TASKS: dict[str, type[NavTask]] = {}


def register_task(cls: type[NavTask]) -> type[NavTask]:
    TASKS[cls.name] = cls
    return cls


for _cls in (PointNav, ObjectNav, InstructNav):
    register_task(_cls)


def get_task(name: str) -> NavTask:
    if name not in TASKS:
        raise unknown_name_error("navigation task", name, TASKS)
    return TASKS[name]()
