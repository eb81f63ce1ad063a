"""An egocentric top-down map built from the agent's own sensors: depth, GPS and compass.

A reactive policy sees one frame; it cannot remember which doorway it came through or which part of a
house it has already searched. Mapping agents (Active Neural SLAM, SemExp) keep that memory as a
top-down map accumulated from depth with the agent's pose, and so does this sensor, with no privileged
input: every depth pixel is lifted to 3-D with the camera's intrinsics, floor hits mark explored free
space, hits between FLOOR_MAX and OBSTACLE_MAX metres high mark obstacles, and the agent's own path
is drawn as a trail. The map lives in the episode's start frame (GPS/compass are relative to the start
pose, as Habitat's sensors) and is read out as an image centred on the agent, heading up, so it enters
the policy as one more camera.

The image is grey (one value in all three channels), like the depth image, so that it survives
LeRobot's yuv420p video in the full-resolution luma plane; each layer is one grey level, far enough
apart that codec noise of a few levels cannot confuse them (see LEVELS).

Depth cannot see everything the base bumps into: from 0.88 m with a 90-degree field of view the floor
is in view only from 0.88 m ahead, so the near edge of a low sofa or bed leaves the image as the agent
closes in, and a reactive policy then pushes into it for hundreds of steps (the PointNav benchmark's
largest failure group). So the map also keeps a **bump layer**, as Nav2's costmaps do with a bumper:
when a forward move was commanded and GPS says the base moved less than half of it, the cells just
ahead of the base are marked as obstacles. It needs only GPS, compass and the agent's own last
command, no contact sensor and nothing privileged.

The semantic variant (`semantic_map` in the env) adds one layer: where the camera has seen the episode's
goal objects, from a ground-truth segmentation camera (Habitat's SEMANTIC sensor; SemExp keeps the same
kind of map per category). It is drawn in the goal grey level, so ObjectNav becomes "explore until the
goal appears on the map, then go to it and STOP". That sensor is privileged compared with the Habitat
ObjectNav challenge, which allows RGB-D, GPS and compass only; report results with it as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Grey level of each layer, in drawing order (later ones cover earlier ones).
UNKNOWN, FREE, TRAIL, OBSTACLE, GOAL = 0, 70, 130, 200, 255
LEVELS = {"unknown": UNKNOWN, "free": FREE, "trail": TRAIL, "obstacle": OBSTACLE, "goal": GOAL}
FLOOR_MAX = 0.08  # m; a depth hit below this height is floor
OBSTACLE_MAX = 1.8  # m; hits above this (upper walls, ceiling) are ignored
TRAIL_RADIUS = 0.12  # m drawn around each point of the agent's path
GOAL_RADIUS = 0.15  # m; the goal marker (PointNav), pinned to the border when outside the window
BUMP_AHEAD = 0.22  # m ahead of the base centre where a blocked forward move marks an obstacle
BUMP_HALF_WIDTH = 0.1  # m either side of the heading the bump mark spans
BLOCKED_FRACTION = 0.5  # a forward move that covers less than this share of the command was blocked


@dataclass(frozen=True)
class EgoMapSpec:
    size: tuple[int, int]
    """Output image (height, width) in pixels."""
    window: float = 8.0
    """Metres the output image spans along its height: the agent sees window/2 ahead and behind."""
    camera_height: float = 0.88
    """Camera height above the floor, m."""
    camera_forward: float = 0.05
    """Camera offset ahead of the base centre, m."""
    vfov_deg: float = 90.0
    """Vertical field of view of the depth camera (square pixels)."""
    extent: float = 24.0
    """Half-size (m) of the start-frame grid the map accumulates in."""
    max_range: float = 6.0
    """Depth hits farther than this (m) are not mapped (grazing floor hits far away are unreliable)."""

    @property
    def cell(self) -> float:
        return self.window / self.size[0]


class EgoMap:
    """Accumulates one episode's map; `reset()` between episodes, `update()` once per observation."""

    def __init__(self, spec: EgoMapSpec):
        self.spec = spec
        n = int(math.ceil(2 * spec.extent / spec.cell))
        self.n = n
        self.layer = np.zeros((n, n), np.uint8)  # max over the grey levels drawn so far (except the goal)
        self.seen_goal = np.zeros((n, n), bool)  # cells where the goal objects were seen (semantic variant)
        self._rays: tuple[int, np.ndarray, np.ndarray] | None = None
        self._last: tuple[float, float] | None = None
        h, w = spec.size
        cell = spec.cell
        rows = (h / 2 - np.arange(h) - 0.5) * cell  # forward offset of each output row (up = ahead)
        cols = (w / 2 - np.arange(w) - 0.5) * cell  # left offset of each output column
        self._fwd, self._left = np.meshgrid(rows, cols, indexing="ij")
        r = max(1, int(round(TRAIL_RADIUS / cell)))
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        keep = dx * dx + dy * dy <= r * r + 0.5
        self._disk = (dy[keep], dx[keep])

    def reset(self) -> None:
        self.layer[:] = UNKNOWN
        self.seen_goal[:] = False
        self._last = None

    # ------------------------------------------------------------------ accumulation
    def _cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start-frame metres -> (row, col, inside) indices of the accumulation grid (row = x, col = y)."""
        c = self.spec.cell
        i = np.floor(x / c).astype(np.int64) + self.n // 2
        j = np.floor(y / c).astype(np.int64) + self.n // 2
        inside = (i >= 0) & (i < self.n) & (j >= 0) & (j < self.n)
        return i, j, inside

    def _mark(self, x: np.ndarray, y: np.ndarray, level: int) -> None:
        i, j, inside = self._cells(np.asarray(x, np.float64), np.asarray(y, np.float64))
        i, j = i[inside], j[inside]
        np.maximum.at(self.layer, (i, j), np.uint8(level))

    def _camera_rays(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: lateral (right) and downward slopes of its ray, for z-depth of 1 m."""
        if self._rays is None or self._rays[0] != h * 100000 + w:
            f = (h / 2) / math.tan(math.radians(self.spec.vfov_deg) / 2)
            u = (np.arange(w) + 0.5 - w / 2) / f
            v = (np.arange(h) + 0.5 - h / 2) / f
            self._rays = (h * 100000 + w, *np.meshgrid(v, u, indexing="ij"))
        return self._rays[2], self._rays[1]

    def update(
        self,
        depth_m: np.ndarray,
        gps: tuple[float, float],
        compass: float,
        goal_mask: np.ndarray | None = None,
        commanded_forward: float = 0.0,
    ) -> None:
        """Add one observation: metric z-depth (H, W) from the camera at pose (gps x, y; compass) in the start
        frame; `goal_mask` (H, W) bool marks the pixels that show a goal object (semantic variant);
        `commanded_forward` (m) is how far the action that led here asked the base to move (0 for a turn,
        STOP or the first frame), from which a blocked move is told (the bump layer)."""
        sp = self.spec
        if self.blocked(gps, commanded_forward):
            self.mark_bump(gps, compass)
        depth = np.asarray(depth_m, np.float64)
        right, down = self._camera_rays(*depth.shape)
        lateral, drop = right * depth, down * depth
        height = sp.camera_height - drop
        valid = (depth > 0.05) & (depth <= sp.max_range)
        fwd = depth + sp.camera_forward
        c, s = math.cos(compass), math.sin(compass)
        x = gps[0] + c * fwd + s * lateral  # agent frame: x ahead, y left; lateral is to the right
        y = gps[1] + s * fwd - c * lateral
        floor = valid & (height < FLOOR_MAX)
        obstacle = valid & (height >= FLOOR_MAX) & (height <= OBSTACLE_MAX)
        self._mark(x[floor], y[floor], FREE)
        self._mark(x[obstacle], y[obstacle], OBSTACLE)
        if goal_mask is not None:
            seen = valid & np.asarray(goal_mask, bool)
            i, j, inside = self._cells(x[seen], y[seen])
            self.seen_goal[i[inside], j[inside]] = True
        self._trail(gps)

    def blocked(self, gps: tuple[float, float], commanded_forward: float) -> bool:
        """Did the last forward command cover less than BLOCKED_FRACTION of its distance (GPS since the last update)?"""
        if commanded_forward <= 0.0 or self._last is None:
            return False
        moved = math.hypot(gps[0] - self._last[0], gps[1] - self._last[1])
        return moved < BLOCKED_FRACTION * commanded_forward

    def mark_bump(self, gps: tuple[float, float], compass: float) -> None:
        """Mark obstacle cells across the heading, BUMP_AHEAD in front of the base centre."""
        lateral = np.linspace(-BUMP_HALF_WIDTH, BUMP_HALF_WIDTH, 5)
        c, s = math.cos(compass), math.sin(compass)
        self._mark(gps[0] + c * BUMP_AHEAD - s * lateral, gps[1] + s * BUMP_AHEAD + c * lateral, OBSTACLE)

    def _trail(self, gps: tuple[float, float]) -> None:
        start = self._last if self._last is not None else gps
        length = math.hypot(gps[0] - start[0], gps[1] - start[1])
        steps = max(1, int(math.ceil(length / (self.spec.cell / 2))))
        t = np.linspace(0.0, 1.0, steps + 1)
        xs, ys = start[0] + t * (gps[0] - start[0]), start[1] + t * (gps[1] - start[1])
        i, j, _ = self._cells(xs, ys)
        di, dj = self._disk
        ii, jj = (i[:, None] + di[None]).ravel(), (j[:, None] + dj[None]).ravel()
        ok = (ii >= 0) & (ii < self.n) & (jj >= 0) & (jj < self.n)
        ii, jj = ii[ok], jj[ok]
        # The trail covers free space but never hides an obstacle seen there.
        self.layer[ii, jj] = np.where(self.layer[ii, jj] >= OBSTACLE, self.layer[ii, jj], TRAIL)
        self._last = (float(gps[0]), float(gps[1]))

    # ------------------------------------------------------------------ read-out
    def image(
        self,
        gps: tuple[float, float],
        compass: float,
        goal: tuple[float, float] | None = None,
        seen_goal: bool = False,
    ) -> np.ndarray:
        """uint8 (H, W, 3) grey map around the agent, heading up; `goal` = (rho m, phi rad) in the agent frame;
        `seen_goal` also draws where the goal objects were seen (the semantic variant)."""
        c, s = math.cos(compass), math.sin(compass)
        x = gps[0] + c * self._fwd - s * self._left
        y = gps[1] + s * self._fwd + c * self._left
        i, j, inside = self._cells(x, y)
        out = np.zeros(self._fwd.shape, np.uint8)
        out[inside] = self.layer[i[inside], j[inside]]
        if seen_goal:
            out[inside] = np.where(self.seen_goal[i[inside], j[inside]], np.uint8(GOAL), out[inside])
        if goal is not None:
            self._draw_goal(out, *goal)
        return np.repeat(out[:, :, None], 3, axis=2)

    def _draw_goal(self, out: np.ndarray, rho: float, phi: float) -> None:
        h, w = out.shape
        cell = self.spec.cell
        fwd, left = rho * math.cos(phi), rho * math.sin(phi)
        half_h, half_w = h / 2 * cell, w / 2 * cell
        scale = max(abs(fwd) / (half_h - cell), abs(left) / (half_w - cell), 1.0)  # pin to the border
        fwd, left = fwd / scale, left / scale
        row, col = h / 2 - fwd / cell - 0.5, w / 2 - left / cell - 0.5
        r = max(1.0, GOAL_RADIUS / cell)
        rr, cc = np.ogrid[:h, :w]
        out[(rr - row) ** 2 + (cc - col) ** 2 <= r * r] = GOAL


def classify(image: np.ndarray) -> np.ndarray:
    """Grey map image (H, W[, 3]) -> the nearest level's value per pixel (undoes a few levels of codec noise)."""
    grey = np.asarray(image, np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=-1)
    levels = np.array(sorted(LEVELS.values()), np.float32)
    return levels[np.abs(grey[..., None] - levels).argmin(axis=-1)].astype(np.uint8)
