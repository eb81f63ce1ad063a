"""Shortest-path expert for the navigation tasks, using the privileged geodesic distance field.

It looks a short way along the shortest path (the field's predecessor tree), steers at the
farthest point of it that is in straight-line view (string pulling, so it cuts corners as a
navmesh path would), and calls STOP once inside the success region. For a point goal it stops
STOP_INSIDE deep in the 0.2 m radius where one forward step (after at most two turns, which add no
path length) gets there: a teacher that stops on the radius's edge puts its STOP and MOVE_FORWARD
labels a hair apart, and a cloned policy's STOP then lands on either side of it (round 5 of the
PointNav benchmark: 6 of 24 failures stopped 0.20-0.26 m from the goal). The margin costs one 0.25 m
step in a few episodes. Subclasses may steer along another field (steering(), line_of_sight()).
Discrete: turn while the heading error exceeds half a turn step, else MOVE_FORWARD if that gets
geodesically closer (simulated with the env's own motion model); when it does not (blocked, or an
overshoot next to the goal), it commits to the heading whose forward step gains most.
Velocity: pure pursuit on the same waypoint, slowing down so as not to overshoot the goal.
"""

from __future__ import annotations

import math

import numpy as np

from vla.envs.navigation.motion import Pose, translate, wrap_angle
from vla.envs.navigation.nav_env import MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT, NavigationEnv

LOOKAHEAD = 1.5  # m along the shortest path
MIN_GAIN = 1e-3  # m; a forward step must get at least this much closer
STOP_INSIDE = 0.1  # m; a point-goal STOP aims this far inside the success radius when one step gets there
DEEPEN_TURNS = 2  # turns (each way) the expert may make for that last step


class NavigationExpert:
    """Privileged shortest-path follower for any NavigationEnv task, discrete or velocity actions."""

    def __init__(self, env):
        self.env: NavigationEnv = env.unwrapped
        self._committed: float | None = None  # heading (rad) to reach before moving forward again
        self._episode = None

    def reset(self) -> None:
        self._committed = None
        self._episode = self.env.episode

    def drop_commitment(self) -> None:
        """Forget the heading committed to (stale once someone else drove); the episode's memory stays."""
        self._committed = None

    def act(self, obs=None):
        if self._episode is not self.env.episode:
            self.reset()
        if self.env.config.action_type == "discrete":
            return self._discrete()
        return self._velocity()

    # ------------------------------------------------------------------ helpers
    def field(self):
        """The distance field being followed: the episode's goal (subclasses may follow others)."""
        return self.env.episode.field

    def steering(self):
        """The field whose shortest path the expert steers along (the goal's own; ClearanceExpert's keeps clear)."""
        return self.field()

    def line_of_sight(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """May the expert cut straight from a to b (string pulling)?"""
        return self.env.grid.line_of_sight(a, b)

    def _distance(self, pose: Pose, field=None) -> float:
        return (field if field is not None else self.field()).distance(pose.x, pose.y)

    def _done(self, d: float) -> bool:
        episode = self.env.episode
        if d >= episode.success_distance:
            return False
        if episode.goal_point is None or d < episode.success_distance - STOP_INSIDE:
            return True
        return not self._can_deepen(d)

    def _can_deepen(self, d: float) -> bool:
        """Discrete actions, inside the point goal's radius but near its edge: does one forward step, after at
        most DEEPEN_TURNS turns, land closer? (Velocity pursuit already aims half the radius inside.)"""
        env = self.env
        if env.config.action_type != "discrete":
            return False
        pose, turn, field = env.pose, math.radians(env.config.discrete.turn_angle), self.field()
        return any(self._gain(pose, pose.yaw + k * turn, d, field) > MIN_GAIN
                   for k in range(-DEEPEN_TURNS, DEEPEN_TURNS + 1))  # fmt: skip

    def waypoint(self, pose: Pose) -> tuple[float, float]:
        """The farthest point within LOOKAHEAD along the shortest path that is in straight-line view."""
        field, grid = self.steering(), self.env.grid
        max_cells = int(LOOKAHEAD / grid.resolution * 1.5) + 2
        path = field.path(pose.x, pose.y, max_points=max_cells)
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        along = np.concatenate([[0.0], np.cumsum(seg)])
        candidates = np.flatnonzero(along <= LOOKAHEAD)
        for k in candidates[::-1]:
            p = (float(path[k, 0]), float(path[k, 1]))
            if k <= 1 or self.line_of_sight((pose.x, pose.y), p):
                return p
        return (float(path[-1, 0]), float(path[-1, 1]))

    # ------------------------------------------------------------------ discrete
    def _discrete(self) -> int:
        env = self.env
        pose = env.pose
        d = self._distance(pose)
        if self._done(d):
            return STOP
        steer = self.steering()
        d = self._distance(pose, steer)  # progress is measured along the path being steered
        turn = math.radians(env.config.discrete.turn_angle)
        if self._committed is not None:
            err = wrap_angle(self._committed - pose.yaw)
            if abs(err) > turn / 2 + 1e-6:
                return TURN_LEFT if err > 0 else TURN_RIGHT
            self._committed = None
            if self._gain(pose, pose.yaw, d, steer) > MIN_GAIN:
                return MOVE_FORWARD
        tx, ty = self.waypoint(pose)
        err = wrap_angle(math.atan2(ty - pose.y, tx - pose.x) - pose.yaw)
        if abs(err) > turn / 2 + 1e-6:
            return TURN_LEFT if err > 0 else TURN_RIGHT
        if self._gain(pose, pose.yaw, d, steer) > MIN_GAIN:
            return MOVE_FORWARD
        # Forward does not help: pick the reachable heading whose forward step gains most, fewest turns first.
        n = int(round(2 * math.pi / turn))
        best_k, best_gain = 0, MIN_GAIN
        for k in sorted(range(-(n // 2), n // 2 + 1), key=abs):
            gain = self._gain(pose, pose.yaw + k * turn, d, steer)
            if gain > best_gain + 1e-9:
                best_k, best_gain = k, gain
        if best_k == 0:
            return TURN_LEFT if err >= 0 else TURN_RIGHT  # nothing helps from here: rotate and look again
        self._committed = wrap_angle(pose.yaw + best_k * turn)
        return TURN_LEFT if best_k > 0 else TURN_RIGHT

    def _gain(self, pose: Pose, yaw: float, d: float, field) -> float:
        """How much closer (by `field`, from `d`) one forward step at heading `yaw` gets."""
        moved, _ = translate(
            self.env.grid, Pose(pose.x, pose.y, wrap_angle(yaw)), self.env.config.discrete.forward_step
        )
        return d - self._distance(moved, field)

    # ------------------------------------------------------------------ velocity
    def _velocity(self) -> np.ndarray:
        env = self.env
        v = env.config.velocity
        dt = 1.0 / env.config.control_hz
        pose = env.pose
        d = self._distance(pose)
        if self._done(d):
            return np.zeros(2, dtype=np.float32)
        tx, ty = self.waypoint(pose)
        err = wrap_angle(math.atan2(ty - pose.y, tx - pose.x) - pose.yaw)
        yaw_rate = float(np.clip(err / dt, -v.max_yaw_rate, v.max_yaw_rate))
        forward = 0.0
        if abs(err) < math.radians(45):
            # Aim a little inside the success radius (or just inside the goal region), never past it.
            slack = 0.5 * env.episode.success_distance if env.episode.goal_point is not None else -0.1
            forward = float(np.clip((d - slack) / dt, 0.0, v.max_forward)) * math.cos(err)
        if abs(forward) < v.stop_forward and abs(yaw_rate) < v.stop_yaw_rate:
            forward = 2 * v.stop_forward  # creep rather than trigger STOP early
        return np.array([forward, yaw_rate], dtype=np.float32)
