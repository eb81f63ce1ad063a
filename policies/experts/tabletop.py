"""Scripted experts for the tabletop tasks. They read privileged simulator state (prop poses),
never images, and act through the same ee_delta action space as a learned policy."""

from __future__ import annotations

import math

import numpy as np

from vla.envs.manipulation.scene import TABLE_TOP_Z
from vla.envs.manipulation.tabletop_env import TabletopEnv
from vla.envs.manipulation.tasks.push import DIRECTIONS, GOAL_X, GOAL_Y

from .waypoints import CLOSED, OPEN, Waypoint, WaypointFollower

HOVER_Z = 0.13  # m; travel height of the tool centre
GRASP_Z = 0.025  # m; tool centre height for grasping a prop resting on the table
PUSH_Z = 0.03  # m; tool centre height while pushing
PUSH_STANDOFF = 0.045  # m behind the prop's near side where the tool centre touches down before a push


class TabletopExpert:
    """Dispatches to a per-task plan at every reset; works for single- and multi-task envs."""

    def __init__(self, env):
        self.env: TabletopEnv = env.unwrapped
        if self.env.config.control != "ee_delta":
            raise ValueError("the scripted experts act in ee_delta control; make the env with control='ee_delta'")
        self.follower = WaypointFollower(self.env)
        self._planned_for = None

    def reset(self) -> None:
        ep = self.env.episode
        plans = {"pick": self._pick, "place": self._place, "push": self._push, "stack": self._stack}
        self.follower.start(plans[ep.task](ep))
        self._planned_for = ep

    def act(self, obs=None) -> np.ndarray:
        if self._planned_for is not self.env.episode:
            self.reset()
        return self.follower.action()

    # ------------------------------------------------------------------ helpers
    def _prop(self, body: str) -> np.ndarray:
        return self.env.scene.prop_pos(body)

    def _grasp_yaw(self, body: str, shape: str) -> float:
        if shape != "cube":
            return 0.0
        # A cube can be grasped across either pair of faces: take the one closest to the current yaw.
        yaw = self.env.scene.prop_yaw(body)
        return _nearest_cube_yaw(yaw)

    def _held_offset(self, body: str) -> np.ndarray:
        """Tool centre minus the held prop's centre (compensates an off-centre grasp)."""
        return self.env.scene.tcp_pos() - self._prop(body)

    def _grasp_plan(self, body: str) -> list[Waypoint]:
        shape = self.env.episode.layout.by_body(body).shape
        yaw = self._grasp_yaw(body, shape)
        above = lambda: np.array([*self._prop(body)[:2], HOVER_Z])  # noqa: E731
        at = lambda: np.array([*self._prop(body)[:2], GRASP_Z])  # noqa: E731
        return [
            Waypoint("above", above, yaw, OPEN, tol=0.015),
            Waypoint("descend", at, yaw, OPEN, tol=0.008, max_steps=25),
            Waypoint("close", at, yaw, CLOSED, min_steps=4, max_steps=4),
            Waypoint("lift", lambda: np.array([*self._grasped_xy(), HOVER_Z]), yaw, CLOSED, tol=0.02),
        ]

    def _grasped_xy(self) -> np.ndarray:
        return self.env.commanded_pose[0][:2]

    # ------------------------------------------------------------------ plans
    def _pick(self, ep) -> list[Waypoint]:
        plan = self._grasp_plan(ep.target)
        plan[-1].max_steps = 60  # hold until the episode ends on success
        plan[-1].tol = 0.0
        return plan

    def _place_over(self, ep, dest_xy, release_z: float, yaw) -> list[Waypoint]:
        held = ep.target
        offset = {}

        def over(z: float):
            def f() -> np.ndarray:
                if "xy" not in offset:
                    offset["xy"] = self._held_offset(held)[:2]
                return np.array([*(dest_xy() + offset["xy"]), z])

            return f

        return [
            Waypoint("carry", over(HOVER_Z), yaw, CLOSED, tol=0.01),
            Waypoint("lower", over(release_z), yaw, CLOSED, tol=0.008, max_steps=25),
            Waypoint("release", over(release_z), yaw, OPEN, min_steps=4, max_steps=4),
            Waypoint("retreat", over(HOVER_Z), yaw, OPEN, tol=0.0, max_steps=60),
        ]

    def _place(self, ep) -> list[Waypoint]:
        plan = self._grasp_plan(ep.target)
        yaw = plan[0].yaw
        bowl = ep.reference
        return plan + self._place_over(ep, lambda: self._prop(bowl)[:2], release_z=0.095, yaw=yaw)

    def _stack(self, ep) -> list[Waypoint]:
        plan = self._grasp_plan(ep.target)
        base = ep.reference
        base_yaw = _nearest_cube_yaw(self.env.scene.prop_yaw(base))
        cube = 2 * self.env.scene.rest_height("cube")
        release_z = TABLE_TOP_Z + 2 * cube + 0.008  # tool centre ~ top cube centre: 5 mm above the base
        return plan + self._place_over(ep, lambda: self._prop(base)[:2], release_z=release_z, yaw=base_yaw)

    def _push(self, ep) -> list[Waypoint]:
        body, d = ep.target, DIRECTIONS[ep.direction]
        shape = ep.layout.by_body(body).shape
        radius = self.env.scene.rest_height("cube") if shape == "cube" else 0.02
        # Touch down this far behind the prop centre, fingers closed: the shut fingers (2.2 cm deep) first touch a
        # prop at radius + 1.1 cm (a cube turned 45 degrees: 3.9 cm), so PUSH_STANDOFF leaves 2.6-3.4 cm of
        # clearance, room for a learned policy's centimetre of aim error. At radius + 3 cm (1.1-1.9 cm) policies
        # trained on these demonstrations landed on the prop's edge in a quarter of front pushes (README).
        standoff = radius + PUSH_STANDOFF
        goal_margin = 0.035

        def behind(z: float):
            return lambda: np.array([*(self._prop(body)[:2] - d * standoff), z])

        def pushing() -> np.ndarray:
            # Re-centre behind the prop every step (it drifts sideways) while aiming 1 cm past its near side.
            return np.array([*(self._prop(body)[:2] - d * (radius - 0.01)), PUSH_Z])

        def pushed() -> bool:
            xy = self._prop(body)[:2]
            if ep.direction == "left":
                return xy[1] >= GOAL_Y + goal_margin
            if ep.direction == "right":
                return xy[1] <= -GOAL_Y - goal_margin
            return xy[0] >= GOAL_X + goal_margin

        retreat = {}

        def back(z: float):
            def f() -> np.ndarray:
                if "xy" not in retreat:
                    retreat["xy"] = self.env.scene.tcp_pos()[:2] - d * 0.03
                return np.array([*retreat["xy"], z])

            return f

        return [
            Waypoint("above", behind(HOVER_Z), 0.0, CLOSED, tol=0.015),
            Waypoint("descend", behind(PUSH_Z), 0.0, CLOSED, tol=0.008, max_steps=25),
            Waypoint("push", pushing, 0.0, CLOSED, speed=0.02, max_steps=40, done=pushed),
            Waypoint("back off", back(PUSH_Z), 0.0, CLOSED, tol=0.006, max_steps=6),
            Waypoint("retreat", back(HOVER_Z), 0.0, CLOSED, tol=0.0, max_steps=60),
        ]


def _nearest_cube_yaw(yaw: float) -> float:
    """A cube looks the same every quarter turn: the equivalent yaw in [-pi/4, pi/4)."""
    return (yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4
