"""Kinematic base motion on the occupancy grid, with Habitat-style sliding along obstacles.

The base moves in sub-steps of at most a quarter cell. A sub-step into a blocked cell is replaced
by its x-only or y-only part (the robot slides along the wall, as Habitat's navmesh does with
allow_sliding); if both are blocked the motion ends there. Any blocked sub-step counts the step as
a collision. Motion is exact and deterministic, so the geodesic metrics and the physical motion
can never disagree about what is reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .occupancy import OccupancyGrid


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    yaw: float  # rad, in (-pi, pi]


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    a = math.fmod(a + math.pi, 2 * math.pi)
    if a <= 0:
        a += 2 * math.pi
    return a - math.pi


def translate(grid: OccupancyGrid, pose: Pose, distance: float) -> tuple[Pose, bool]:
    """Move `distance` m along the heading (negative: backwards); returns the new pose and whether it collided."""
    if distance == 0:
        return pose, False
    n = max(1, math.ceil(abs(distance) / (grid.resolution / 4)))
    dx, dy = distance * math.cos(pose.yaw) / n, distance * math.sin(pose.yaw) / n
    x, y, collided = pose.x, pose.y, False
    for _ in range(n):
        if grid.is_navigable(x + dx, y + dy):
            x, y = x + dx, y + dy
            continue
        collided = True
        # Slide: keep the larger component first, as a wall parallel to the motion should let it pass.
        parts = ((dx, 0.0), (0.0, dy)) if abs(dx) >= abs(dy) else ((0.0, dy), (dx, 0.0))
        for sx, sy in parts:
            if (sx or sy) and grid.is_navigable(x + sx, y + sy):
                x, y = x + sx, y + sy
                break
        else:
            break
    return Pose(x, y, pose.yaw), collided


def integrate_velocity(
    grid: OccupancyGrid, pose: Pose, forward: float, yaw_rate: float, dt: float
) -> tuple[Pose, bool]:
    """Unicycle motion for dt s (turning and driving interleaved in small steps)."""
    n = max(1, math.ceil(max(abs(forward) * dt / (grid.resolution / 2), abs(yaw_rate) * dt / math.radians(5))))
    collided = False
    for _ in range(n):
        pose = Pose(pose.x, pose.y, wrap_angle(pose.yaw + yaw_rate * dt / (2 * n)))
        pose, hit = translate(grid, pose, forward * dt / n)
        pose = Pose(pose.x, pose.y, wrap_angle(pose.yaw + yaw_rate * dt / (2 * n)))
        collided |= hit
    return pose, collided
