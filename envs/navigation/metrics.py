"""Navigation metrics with habitat-lab's definitions (Anderson et al. 2018, "On Evaluation of
Embodied Navigation Agents"; habitat-lab's Success, SPL, SoftSPL, DistanceToGoal, Collisions).

All distances are geodesic (shortest navigable path, geodesic.py), never straight lines:
  success   = STOP called and distance_to_goal < success_distance (strict, as habitat-lab)
  SPL       = success * l / max(p, l)
  SoftSPL   = max(0, 1 - d_T / d_0) * l / max(p, l)
where l = d_0 is the geodesic distance from the start to the goal, p the length of the path the
agent actually travelled and d_T the geodesic distance to the goal when the episode ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def is_success(stop_called: bool, distance_to_goal: float, success_distance: float) -> bool:
    return bool(stop_called) and distance_to_goal < success_distance


def spl(success: bool, shortest: float, path_length: float) -> float:
    """Success weighted by (normalised inverse) path length."""
    if not success:
        return 0.0
    denom = max(path_length, shortest)
    return 1.0 if denom <= 0 else shortest / denom


def soft_spl(distance_to_goal: float, start_distance: float, shortest: float, path_length: float) -> float:
    """SPL with success replaced by the fraction of the start distance covered (no STOP needed)."""
    if start_distance <= 0:
        soft = 1.0
    elif not math.isfinite(distance_to_goal):
        soft = 0.0
    else:
        soft = max(0.0, 1.0 - distance_to_goal / start_distance)
    denom = max(path_length, shortest)
    return soft * (1.0 if denom <= 0 else shortest / denom)


@dataclass
class EpisodeMeasures:
    """Accumulates one episode's path, collisions and distances; `summary()` gives the metrics."""

    start_distance: float  # d_0 = l, geodesic
    success_distance: float
    path: list[tuple[float, float]] = field(default_factory=list)
    path_length: float = 0.0
    collisions: int = 0
    distance_to_goal: float = math.nan
    stop_called: bool = False

    def __post_init__(self) -> None:
        self.distance_to_goal = self.start_distance

    def start(self, x: float, y: float) -> None:
        self.path = [(x, y)]

    def update(self, x: float, y: float, collided: bool, distance_to_goal: float) -> None:
        px, py = self.path[-1]
        self.path_length += math.hypot(x - px, y - py)
        self.path.append((x, y))
        self.collisions += int(collided)
        self.distance_to_goal = distance_to_goal

    @property
    def success(self) -> bool:
        return is_success(self.stop_called, self.distance_to_goal, self.success_distance)

    def summary(self) -> dict[str, float | int | bool]:
        s = self.success
        return {
            "success": s,
            "spl": spl(s, self.start_distance, self.path_length),
            "softspl": soft_spl(self.distance_to_goal, self.start_distance, self.start_distance, self.path_length),
            "distance_to_goal": float(self.distance_to_goal),
            "start_distance": float(self.start_distance),
            "path_length": float(self.path_length),
            "collisions": int(self.collisions),
        }
