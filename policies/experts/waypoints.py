"""A waypoint follower that turns a plan of tool-centre poses into ee_delta actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vla.envs.manipulation.kinematics import wrap_angle
from vla.envs.manipulation.tabletop_env import MAX_DPOS, MAX_DYAW, TabletopEnv

OPEN, CLOSED = -1.0, 1.0
PoseFn = Callable[[], np.ndarray]


@dataclass
class Waypoint:
    """Move the tool centre to `pos` (a fixed point or a function re-evaluated every step)."""

    name: str
    pos: np.ndarray | PoseFn
    yaw: float | Callable[[], float]
    gripper: float
    tol: float = 0.012  # m, distance of the measured tool centre to `pos` that completes the waypoint
    min_steps: int = 0  # hold at least this many steps (e.g. while the fingers close)
    max_steps: int = 40  # give up waiting and move on
    speed: float = 0.95 * MAX_DPOS  # m per step
    done: Callable[[], bool] | None = None  # optional extra completion test

    def target(self) -> np.ndarray:
        return np.asarray(self.pos() if callable(self.pos) else self.pos, dtype=np.float64)

    def target_yaw(self) -> float:
        return float(self.yaw() if callable(self.yaw) else self.yaw)


class WaypointFollower:
    def __init__(self, env: TabletopEnv):
        self.env = env
        self.plan: list[Waypoint] = []
        self.index = 0
        self.steps_in_waypoint = 0

    def start(self, plan: list[Waypoint]) -> None:
        self.plan, self.index, self.steps_in_waypoint = plan, 0, 0

    @property
    def current(self) -> Waypoint:
        return self.plan[min(self.index, len(self.plan) - 1)]

    def _reached(self, wp: Waypoint) -> bool:
        if self.steps_in_waypoint >= wp.max_steps:
            return True
        if self.steps_in_waypoint < wp.min_steps:
            return False
        if wp.done is not None:
            return wp.done()
        tcp = self.env.scene.tcp_pos()
        yaw_err = abs(wrap_angle(wp.target_yaw() - self.env.scene.tcp_yaw()))
        return bool(np.linalg.norm(tcp - wp.target()) < wp.tol and yaw_err < 0.08)

    def action(self) -> np.ndarray:
        while self.index < len(self.plan) - 1 and self._reached(self.current):
            self.index += 1
            self.steps_in_waypoint = 0
        wp = self.current
        cmd_pos, cmd_yaw = self.env.commanded_pose
        delta = wp.target() - cmd_pos
        norm = float(np.linalg.norm(delta))
        if norm > wp.speed:
            delta *= wp.speed / norm
        dyaw = float(np.clip(wrap_angle(wp.target_yaw() - cmd_yaw), -0.95 * MAX_DYAW, 0.95 * MAX_DYAW))
        self.steps_in_waypoint += 1
        return np.array([*delta, dyaw, wp.gripper], dtype=np.float32)
