"""A teacher for object search that only uses what the agent could know: explore rooms until the goal has
been seen, then take the shortest path to it.

The shortest-path expert walks straight to a goal object it has never seen, through the one doorway of
several that leads there. A policy that sees only its own camera (and a map of where it has been) cannot
know which doorway that is, so cloning those choices teaches it a coin flip. This teacher acts as a
searcher would: while no instance of the goal has been in view, it heads for the geodesically nearest room
it has not yet been inside (a little way past the doorway, so the room is in view); once it is inside a
room holding a goal instance, it follows the episode's shortest path and calls STOP as the expert does.
"Seen" is the same-room rule the success test uses (object_region): it stands in for a visibility check.
Its paths are longer than the shortest path (lower SPL) but every choice depends only on the episode so far.
Where the env draws the semantic map, the goal also counts as seen as soon as the map shows it: otherwise
the teacher walks on to the next room while the policy's own map already shows the goal through a doorway
(measured on 30 train-house episodes: in 19 the map showed the goal 3-36 steps before the same-room rule
fired, a quarter of all labels), and the cloned policy learns to walk away from a goal in plain view.

It also stops STOP_DEPTH inside the success region rather than on its edge: a teacher that calls STOP on
the first step inside teaches a STOP whose right and wrong sides are one step apart, and a cloned policy
that is a step early fails (measured: 9 of 17 early STOPs of a semantic-map ObjectNav policy ended within
1 m of the region's edge). Its labels are then a margin away from that edge, at the cost of ~0.4 m of path.
"""

from __future__ import annotations

import numpy as np

from vla.envs.navigation.geodesic import DistanceField
from vla.envs.navigation.layout import Rect
from vla.envs.navigation.motion import Pose
from vla.envs.navigation.occupancy import room_mask
from vla.envs.navigation.tasks import objects_goal
from vla.errors import VlaUserError

from .clearance import ClearanceExpert
from .navigation import NavigationExpert

INSIDE_MARGIN = 0.6  # m; a room counts as visited once the agent is this far inside its walls
STOP_DEPTH = 0.4  # m; STOP within view_radius - STOP_DEPTH of a goal object (inside the success region)
EXPLORING_TASKS = ("objectnav", "instructnav")


class ExploringExpert(NavigationExpert):
    """Room-by-room search until a goal instance's room is entered, then the shortest path (ObjectNav, InstructNav)."""

    def __init__(self, env):
        super().__init__(env)
        if self.env.task_name not in EXPLORING_TASKS:
            raise VlaUserError(
                f"the exploring expert searches for objects ({', '.join(EXPLORING_TASKS)}); {self.env.task_name} "
                f"gives the goal's position, so use the shortest-path expert"
            )
        self.seen = False
        self.visited: set[int] = set()
        self.target: int | None = None
        self._fields: dict[int, DistanceField] = {}
        self._house = None
        self._deep: DistanceField | None = None  # the success region shrunk by STOP_DEPTH, per episode

    def reset(self) -> None:
        super().reset()
        self.seen, self.visited, self.target = False, set(), None
        self._deep = None
        if self._house is not self.env.house:  # room fields are per house, reused across its episodes
            self._house, self._fields = self.env.house, {}

    def act(self, obs=None):
        if self._episode is not self.env.episode:
            self.reset()
        self._observe(self.env.pose)
        return super().act(obs)

    # ------------------------------------------------------------------ what the agent knows
    def goal_rooms(self) -> set[int]:
        house = self.env.house
        return {house.objects[i].room for i in self.env.episode.goal_objects}

    def _observe(self, pose: Pose) -> None:
        house = self.env.house
        room = house.room_at(pose.x, pose.y)
        if room is not None and self._well_inside(house.rooms[room].interior, pose):
            self.visited.add(room)
        if (room is not None and room in self.goal_rooms()) or self.goal_on_map():
            self.seen = True
        if self.seen:
            return
        if self.target is None or self.target in self.visited:
            self.target = self._nearest_unvisited(pose)

    def goal_on_map(self) -> bool:
        """Does the env's semantic map (the agent's own sensor, when drawn) show a goal object yet?"""
        env = self.env
        return bool(env.config.semantic_map and env.egomap is not None and env.egomap.seen_goal.any())

    @staticmethod
    def _well_inside(r: Rect, pose: Pose) -> bool:
        m = INSIDE_MARGIN
        return r.x0 + m <= pose.x <= r.x1 - m and r.y0 + m <= pose.y <= r.y1 - m

    def _room_field(self, index: int) -> DistanceField:
        if index not in self._fields:
            env = self.env
            room = env.house.rooms[index].interior
            m = INSIDE_MARGIN
            inner = Rect(room.x0 + m, room.y0 + m, room.x1 - m, room.y1 - m)
            mask = room_mask(env.grid, inner)
            if not mask.any():  # furniture fills the middle: any navigable floor of the room
                mask = room_mask(env.grid, room)
            self._fields[index] = env.graph.region_goal(mask, lambda x, y, r=inner: self._inside(r, x, y))
        return self._fields[index]

    def _inside(self, r: Rect, x: float, y: float) -> bool:
        return r.x0 <= x <= r.x1 and r.y0 <= y <= r.y1 and self.env.grid.is_navigable(x, y)

    def _nearest_unvisited(self, pose: Pose) -> int | None:
        rooms = [r.index for r in self.env.house.rooms if r.index not in self.visited]
        if not rooms:
            return None
        d = [self._room_field(i).distance(pose.x, pose.y) for i in rooms]
        best = int(np.argmin(d))
        return rooms[best] if np.isfinite(d[best]) else None

    # ------------------------------------------------------------------ NavigationExpert hooks
    def _deep_field(self) -> DistanceField:
        """Where the teacher stops: within view_radius - STOP_DEPTH of a goal object, in its room (a subset of
        the success region); the success region itself where that is empty or unreachable from here."""
        if self._deep is None:
            env = self.env
            objects = [env.house.objects[i] for i in env.episode.goal_objects]
            radius = env.config.view_radius - STOP_DEPTH
            deep = objects_goal(env.grid, env.graph, env.house, objects, radius) if radius > 0 else None
            reachable = deep is not None and np.isfinite(deep.distance(env.pose.x, env.pose.y))
            self._deep = deep if reachable else env.episode.field
        return self._deep

    def field(self):
        if self.seen:
            return self._deep_field()
        if self.target is None:
            return self.env.episode.field
        return self._room_field(self.target)

    def _done(self, d: float) -> bool:
        return self.seen and super()._done(d)


class ExploringClearanceExpert(ExploringExpert, ClearanceExpert):
    """The exploring teacher (what to head for) steering along the clearance teacher's paths (how to get there):
    room search and STOP as ExploringExpert, paths that keep clear of walls and furniture as ClearanceExpert."""
