"""The navigable space of a house: a floor grid whose cells are free for the robot's centre.

A cell is navigable when its centre is further than the robot radius from every wall and furniture
footprint (exactly, not by dilating pixels) and it belongs to the largest connected free region
(the inside of the house). Motion, geodesic distances and every metric use this one grid, as
Habitat uses one navmesh for both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .layout import House, Rect

RESOLUTION = 0.05  # m per cell
ROBOT_RADIUS = 0.18  # m
MIN_ROOM_CELLS = 40  # a room counts as reachable with at least this much navigable floor (0.1 m^2)


@dataclass(frozen=True)
class OccupancyGrid:
    """Row i, column j covers x in [x0 + j*res, x0 + (j+1)*res), y in [y0 + i*res, ...)."""

    origin: tuple[float, float]
    resolution: float
    navigable: np.ndarray  # bool (H, W): the robot centre may be here
    clearance: np.ndarray  # float32 (H, W): distance from each cell centre to the nearest obstacle, m

    @property
    def shape(self) -> tuple[int, int]:
        return self.navigable.shape

    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        return int(math.floor((y - self.origin[1]) / self.resolution)), int(
            math.floor((x - self.origin[0]) / self.resolution)
        )

    def center(self, i, j):
        """World coordinates of cell centres (works on arrays)."""
        return self.origin[0] + (np.asarray(j) + 0.5) * self.resolution, self.origin[1] + (
            np.asarray(i) + 0.5
        ) * self.resolution

    def inside(self, i: int, j: int) -> bool:
        return 0 <= i < self.navigable.shape[0] and 0 <= j < self.navigable.shape[1]

    def is_navigable(self, x: float, y: float) -> bool:
        i, j = self.to_cell(x, y)
        return self.inside(i, j) and bool(self.navigable[i, j])

    def segment_cells(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, cols) of the cells under the segment a-b sampled at a quarter cell, a first; None if it leaves
        the grid."""
        n = max(1, int(math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / (self.resolution / 4))))
        t = np.linspace(0.0, 1.0, n + 1)
        xs, ys = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        i = np.floor((ys - self.origin[1]) / self.resolution).astype(int)
        j = np.floor((xs - self.origin[0]) / self.resolution).astype(int)
        h, w = self.navigable.shape
        if i.min() < 0 or j.min() < 0 or i.max() >= h or j.max() >= w:
            return None
        return i, j

    def line_of_sight(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """True when every point of the segment a-b is navigable (sampled at a quarter cell)."""
        cells = self.segment_cells(a, b)
        return cells is not None and bool(self.navigable[cells].all())


def occupancy_from_rects(
    obstacles: Iterable[Rect],
    bounds: Rect,
    resolution: float = RESOLUTION,
    radius: float = ROBOT_RADIUS,
    pad: float = 0.25,
) -> OccupancyGrid:
    """Grid over `bounds` (+ pad) where cells within `radius` of an obstacle rectangle are blocked.

    Cells outside `bounds` are blocked too; of what remains, the largest 8-connected region is kept.
    """
    area = bounds.grow(pad)
    w = int(math.ceil((area.x1 - area.x0) / resolution))
    h = int(math.ceil((area.y1 - area.y0) / resolution))
    xs = area.x0 + (np.arange(w) + 0.5) * resolution
    ys = area.y0 + (np.arange(h) + 0.5) * resolution
    clearance = np.full((h, w), np.inf, dtype=np.float64)
    for r in obstacles:
        dx = np.maximum(np.maximum(r.x0 - xs, 0.0), xs - r.x1)
        dy = np.maximum(np.maximum(r.y0 - ys, 0.0), ys - r.y1)
        np.minimum(clearance, np.hypot(dy[:, None], dx[None, :]), out=clearance)
    in_bounds = (
        (ys[:, None] - radius >= bounds.y0)
        & (ys[:, None] + radius <= bounds.y1)
        & (xs[None, :] - radius >= bounds.x0)
        & (xs[None, :] + radius <= bounds.x1)
    )
    free = (clearance > radius) & in_bounds
    labels, n = ndimage.label(free, structure=np.ones((3, 3), dtype=bool))
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        free = labels == int(np.argmax(sizes))
    return OccupancyGrid((area.x0, area.y0), resolution, free, np.minimum(clearance, 1e3).astype(np.float32))


def build_occupancy(house: House, resolution: float = RESOLUTION, radius: float = ROBOT_RADIUS) -> OccupancyGrid:
    """Walls and furniture footprints of a house (round objects count as their bounding square)."""
    obstacles = [*house.walls, *(o.footprint for o in house.objects)]
    return occupancy_from_rects(obstacles, house.bounds, resolution, radius)


def room_mask(grid: OccupancyGrid, room: Rect) -> np.ndarray:
    """Navigable cells whose centres lie inside a room's interior."""
    h, w = grid.shape
    x, y = grid.center(np.arange(h)[:, None], np.arange(w)[None, :])
    return grid.navigable & (x >= room.x0) & (x <= room.x1) & (y >= room.y0) & (y <= room.y1)


def rooms_connected(house: House, grid: OccupancyGrid) -> bool:
    """Every room has navigable floor in the one connected region the robot lives in."""
    return all(room_mask(grid, r.interior).sum() >= MIN_ROOM_CELLS for r in house.rooms)
