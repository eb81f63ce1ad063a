"""Geodesic distances over the navigable grid: shortest-path distance fields to a goal set.

Dijkstra (scipy.sparse.csgraph, C speed) on a 16-connected grid graph: the 8 king moves plus the
8 knight moves (1, 2), each with its exact Euclidean length and only where every cell the segment
crosses is navigable. Eight directions alone overestimate paths at oblique angles by up to 8.2%;
sixteen bring that down to 2.7% at worst (about 1% typical), so SPL is not flattered by the metric.
Goals enter through one virtual source node whose edges carry each seed cell's exact distance to
the goal, and continuous queries add the offset from the nearest cell centres, so distances to a
goal point are exact in the open (the 0.2 m PointNav threshold is not blurred by the 5 cm cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from .occupancy import ROBOT_RADIUS, OccupancyGrid

# (di, dj) undirected moves and the cells (relative to the start) the segment passes through.
MOVES: tuple[tuple[tuple[int, int], tuple[tuple[int, int], ...]], ...] = (
    ((0, 1), ()),
    ((1, 0), ()),
    ((1, 1), ((1, 0), (0, 1))),
    ((1, -1), ((1, 0), (0, -1))),
    ((1, 2), ((0, 1), (1, 1))),
    ((2, 1), ((1, 0), (1, 1))),
    ((1, -2), ((0, -1), (1, -1))),
    ((2, -1), ((1, 0), (1, -1))),
)
DIRECT_RADIUS = 0.6  # m; within this straight-line reach of a goal point, distances are Euclidean


class GeodesicGraph:
    """The grid graph of one occupancy map, built once and reused for every goal in that map."""

    def __init__(self, grid: OccupancyGrid, clearance_cost: float = 0.0, clearance_margin: float = 0.25):
        if clearance_cost < 0 or clearance_margin <= 0:
            raise ValueError(
                f"need clearance_cost >= 0, clearance_margin > 0; got {clearance_cost}, {clearance_margin}"
            )
        self.grid = grid
        self.clearance_cost = clearance_cost
        # 1 on the robot-radius boundary, falling linearly to 0 at clearance_margin further out.
        slack = grid.clearance.astype(np.float64) - ROBOT_RADIUS
        penalty = np.clip(1.0 - slack / clearance_margin, 0.0, 1.0).ravel()
        h, w = grid.shape
        nav = grid.navigable
        padded = np.zeros((h + 4, w + 4), dtype=bool)
        padded[2:-2, 2:-2] = nav

        def shifted(di: int, dj: int) -> np.ndarray:
            return padded[2 + di : 2 + di + h, 2 + dj : 2 + dj + w]

        ii, jj = np.mgrid[0:h, 0:w]
        src, dst, wts = [], [], []
        for (di, dj), via in MOVES:
            ok = nav & shifted(di, dj)
            for vi, vj in via:
                ok &= shifted(vi, vj)
            a = (ii[ok] * w + jj[ok]).ravel()
            b = ((ii[ok] + di) * w + jj[ok] + dj).ravel()
            cost = math.hypot(di, dj) * grid.resolution * (1.0 + clearance_cost * (penalty[a] + penalty[b]) / 2)
            src += [a, b]
            dst += [b, a]
            wts += [cost, cost]
        self._src = np.concatenate(src)
        self._dst = np.concatenate(dst)
        self._w = np.concatenate(wts)
        self.n = h * w

    def field(
        self,
        seeds: np.ndarray,
        seed_distances: np.ndarray,
        goal_point: tuple[float, float] | None = None,
        in_goal: Callable[[float, float], bool] | None = None,
    ) -> DistanceField:
        """Distances to a goal given by seed cells (flat indices) and their distance to the goal.

        `goal_point`: a point goal (enables exact distances near it); `in_goal`: a continuous test
        of the goal region (distance 0 inside it).
        """
        seeds = np.asarray(seeds, dtype=np.int64).ravel()
        if seeds.size == 0:
            raise ValueError("a goal needs at least one navigable seed cell")
        # csgraph drops explicit zeros, so zero-cost seed edges get a negligible positive weight.
        weights = np.maximum(np.asarray(seed_distances, dtype=np.float64).ravel(), 1e-12)
        src = np.concatenate([self._src, np.full(seeds.size, self.n)])
        dst = np.concatenate([self._dst, seeds])
        w = np.concatenate([self._w, weights])
        graph = coo_matrix((w, (src, dst)), shape=(self.n + 1, self.n + 1)).tocsr()
        dist, pred = dijkstra(graph, directed=True, indices=self.n, return_predecessors=True)
        h, wd = self.grid.shape
        return DistanceField(
            self.grid, dist[: self.n].reshape(h, wd), pred[: self.n].reshape(h, wd), goal_point, in_goal,
            seeds, weights,
        )  # fmt: skip

    def same_goal(self, field: DistanceField) -> DistanceField:
        """A field of this graph to the goal of `field` (made by any graph of the same grid)."""
        if field.seeds is None or field.seed_distances is None:
            raise ValueError("the field does not record its goal seeds")
        return self.field(field.seeds, field.seed_distances, field.goal_point, field.in_goal)

    def point_goal(self, x: float, y: float) -> DistanceField:
        """Field to a goal point: cells within DIRECT_RADIUS that see it are seeded with their exact distance."""
        g = self.grid
        h, w = g.shape
        r = int(math.ceil(DIRECT_RADIUS / g.resolution)) + 1
        ci, cj = g.to_cell(x, y)
        seeds, dists = [], []
        for i in range(max(0, ci - r), min(h, ci + r + 1)):
            for j in range(max(0, cj - r), min(w, cj + r + 1)):
                if not g.navigable[i, j]:
                    continue
                cx, cy = g.center(i, j)
                d = math.hypot(float(cx) - x, float(cy) - y)
                if d <= DIRECT_RADIUS and g.line_of_sight((float(cx), float(cy)), (x, y)):
                    seeds.append(i * w + j)
                    dists.append(d)
        if not seeds:
            raise ValueError(f"goal point ({x:.2f}, {y:.2f}) is not on navigable floor")
        return self.field(np.array(seeds), np.array(dists), goal_point=(x, y))

    def region_goal(self, mask: np.ndarray, in_goal: Callable[[float, float], bool]) -> DistanceField:
        """Field to a goal region given as a cell mask (distance 0 inside) and its continuous test."""
        seeds = np.flatnonzero(mask & self.grid.navigable)
        return self.field(seeds, np.zeros(seeds.size), in_goal=in_goal)


@dataclass
class DistanceField:
    """Geodesic distance to one goal from every navigable cell, with the shortest-path tree."""

    grid: OccupancyGrid
    dist: np.ndarray  # float64 (H, W), inf where unreachable
    pred: np.ndarray  # int (H, W): next cell towards the goal (flat index); the virtual source at seeds
    goal_point: tuple[float, float] | None = None
    in_goal: Callable[[float, float], bool] | None = None
    seeds: np.ndarray | None = None  # flat indices of the goal's seed cells (GeodesicGraph.field)
    seed_distances: np.ndarray | None = None  # and their distances to the goal

    def distance(self, x: float, y: float) -> float:
        """Geodesic distance (m) from a continuous position to the goal; inf off the navigable floor."""
        g = self.grid
        if self.in_goal is not None and self.in_goal(x, y):
            return 0.0
        if self.goal_point is not None:
            gx, gy = self.goal_point
            d = math.hypot(gx - x, gy - y)
            if d <= DIRECT_RADIUS and g.line_of_sight((x, y), (gx, gy)):
                return d
        i, j = g.to_cell(x, y)
        if not (g.inside(i, j) and g.navigable[i, j]):
            return math.inf
        best = math.inf
        h, w = g.shape
        for a in range(max(0, i - 1), min(h, i + 2)):
            for b in range(max(0, j - 1), min(w, j + 2)):
                if g.navigable[a, b] and self.dist[a, b] < math.inf:
                    cx, cy = g.center(a, b)
                    best = min(best, float(self.dist[a, b]) + math.hypot(float(cx) - x, float(cy) - y))
        return best

    def path(self, x: float, y: float, max_points: int = 100_000) -> np.ndarray:
        """Shortest path (N, 2) from (x, y) along the tree's cell centres, ending at the goal point if any."""
        g = self.grid
        h, w = g.shape
        i, j = g.to_cell(x, y)
        pts = [(x, y)]
        if not (g.inside(i, j) and np.isfinite(self.dist[i, j])):
            return np.array(pts)
        node = i * w + j
        reached = False
        for _ in range(max_points):
            a, b = divmod(int(node), w)
            cx, cy = g.center(a, b)
            pts.append((float(cx), float(cy)))
            nxt = int(self.pred[a, b])
            if nxt < 0 or nxt >= h * w:  # reached a seed (its predecessor is the virtual source)
                reached = True
                break
            node = nxt
        if reached and self.goal_point is not None:
            pts.append(self.goal_point)
        return np.array(pts)

    def cells_within(self, lo: float, hi: float) -> np.ndarray:
        """Flat indices of navigable cells whose distance lies in [lo, hi]."""
        d = self.dist
        return np.flatnonzero(self.grid.navigable & np.isfinite(d) & (d >= lo) & (d <= hi))
