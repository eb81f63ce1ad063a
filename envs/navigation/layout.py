"""Procedural houses: a seed -> rooms on a grid, walls with doorways, furniture. Pure geometry, no MuJoCo.

The same layout feeds the MJCF builder (scene.py), the occupancy map (occupancy.py) and the tasks,
so what the camera sees, what the agent collides with and what the metrics measure agree. Every
draw comes from one numpy Generator seeded with the layout seed, so a seed is a house: the
train / val / test splits are ranges of these seeds (splits.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .objects import CATEGORIES, COLOURS

WALL_T = 0.1  # wall thickness, m
WALL_H = 2.5  # wall height (and ceiling), m
DOOR_WIDTH = (0.9, 1.2)  # m
ROOM_SIZE = (3.0, 4.6)  # side length of a grid cell, m
DOOR_CLEARANCE = 1.0  # m kept free of furniture in front of each doorway
OBJECT_GAP = 0.12  # m between furniture footprints
# (rows, cols, cells left empty): 3-5 rooms; empty cells make L-shaped houses.
GRIDS: tuple[tuple[int, int, int], ...] = ((1, 3, 0), (3, 1, 0), (2, 2, 0), (2, 2, 1), (1, 4, 0), (2, 3, 1))
FLOOR_TONES = ((0.76, 0.70, 0.60), (0.62, 0.62, 0.64), (0.55, 0.40, 0.28), (0.60, 0.66, 0.70), (0.70, 0.52, 0.42))
WALL_TONES = ((0.86, 0.84, 0.78), (0.80, 0.84, 0.86), (0.88, 0.82, 0.74), (0.78, 0.80, 0.76))


@dataclass(frozen=True)
class Rect:
    """Axis-aligned rectangle [x0, x1] x [y0, y1] in the world (m)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    @property
    def half(self) -> tuple[float, float]:
        return ((self.x1 - self.x0) / 2, (self.y1 - self.y0) / 2)

    def grow(self, d: float) -> Rect:
        return Rect(self.x0 - d, self.y0 - d, self.x1 + d, self.y1 + d)

    def overlaps(self, other: Rect) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def inside(self, other: Rect) -> bool:
        return self.x0 >= other.x0 and self.x1 <= other.x1 and self.y0 >= other.y0 and self.y1 <= other.y1

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def distance(self, x, y):
        """Euclidean distance from point(s) to the rectangle (0 inside); works on numpy arrays."""
        dx = np.maximum(np.maximum(self.x0 - x, 0.0), x - self.x1)
        dy = np.maximum(np.maximum(self.y0 - y, 0.0), y - self.y1)
        return np.hypot(dx, dy)


@dataclass(frozen=True)
class Room:
    index: int
    interior: Rect  # inside the walls
    floor_rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Door:
    """A gap in the wall between rooms `a` and `b`; `gap` is the hole in the wall (thickness included)."""

    a: int
    b: int
    gap: Rect
    vertical: bool  # the wall runs along y (rooms side by side in x)


@dataclass(frozen=True)
class PlacedObject:
    index: int
    category: str
    colour: str
    room: int
    center: tuple[float, float]
    yaw: float  # a multiple of pi/2; the object's front is +x rotated by yaw
    half: tuple[float, float]  # (hx, hy) in the object's frame

    @property
    def footprint(self) -> Rect:
        hx, hy = self.half if round(self.yaw / (np.pi / 2)) % 2 == 0 else self.half[::-1]
        x, y = self.center
        return Rect(x - hx, y - hy, x + hx, y + hy)

    @property
    def label(self) -> str:
        return f"{self.colour} {self.category}"


@dataclass(frozen=True)
class House:
    seed: int
    rooms: tuple[Room, ...]
    walls: tuple[Rect, ...]
    doors: tuple[Door, ...]
    objects: tuple[PlacedObject, ...]
    bounds: Rect  # outer faces of the outer walls
    wall_rgb: tuple[float, float, float]
    meta: dict = field(default_factory=dict, compare=False)

    def room_at(self, x: float, y: float) -> int | None:
        for r in self.rooms:
            if r.interior.contains(x, y):
                return r.index
        return None


def generate_house(seed: int, max_tries: int = 20) -> House:
    """The house of a layout seed. Furniture that would cut a room off is re-drawn (deterministically)."""
    from .occupancy import build_occupancy, rooms_connected  # late import: occupancy uses this module's types

    rng = np.random.default_rng(np.random.SeedSequence([0x4E4156, int(seed)]))
    rows, cols, empty = GRIDS[int(rng.integers(len(GRIDS)))]
    widths = rng.uniform(*ROOM_SIZE, size=cols)
    heights = rng.uniform(*ROOM_SIZE, size=rows)
    xs = np.concatenate([[0.0], np.cumsum(widths)])
    ys = np.concatenate([[0.0], np.cumsum(heights)])
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    if empty:
        corners = [(0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1)]
        cells.remove(corners[int(rng.integers(len(corners)))])
    index = {cell: i for i, cell in enumerate(cells)}
    h = WALL_T / 2
    rooms = tuple(
        Room(
            i,
            Rect(xs[c] + h, ys[r] + h, xs[c + 1] - h, ys[r + 1] - h),
            tuple(
                np.clip(np.array(FLOOR_TONES[int(rng.integers(len(FLOOR_TONES)))]) + rng.uniform(-0.04, 0.04, 3), 0, 1)
            ),
        )
        for (r, c), i in index.items()
    )
    walls, doors = _walls_and_doors(rng, rows, cols, xs, ys, index)
    wall_rgb = tuple(
        np.clip(np.array(WALL_TONES[int(rng.integers(len(WALL_TONES)))]) + rng.uniform(-0.03, 0.03, 3), 0, 1)
    )
    palette = [str(c) for c in rng.choice(list(COLOURS), size=5, replace=False)]
    bounds = Rect(-h, -h, xs[-1] + h, ys[-1] + h)
    for attempt in range(max_tries):
        objects = _furnish(rng, rooms, doors, palette, shrink=attempt // 5)
        house = House(int(seed), rooms, tuple(walls), tuple(doors), tuple(objects), bounds, wall_rgb)
        if rooms_connected(house, build_occupancy(house)):
            return house
    raise RuntimeError(f"layout seed {seed}: no furniture arrangement kept every room reachable")


def _walls_and_doors(rng, rows, cols, xs, ys, index) -> tuple[list[Rect], list[Door]]:
    h = WALL_T / 2
    # Adjacent room pairs and the wall segment they share: ((a, b), vertical, fixed coord, lo, hi).
    shared = []
    segments = []  # every wall segment: (vertical, coord, lo, hi, pair or None)
    for r in range(rows):
        for c in range(cols + 1):  # vertical lines x = xs[c]
            left, right = index.get((r, c - 1)), index.get((r, c))
            if left is None and right is None:
                continue
            pair = (left, right) if left is not None and right is not None else None
            segments.append((True, xs[c], ys[r], ys[r + 1], pair))
    for r in range(rows + 1):
        for c in range(cols):  # horizontal lines y = ys[r]
            below, above = index.get((r - 1, c)), index.get((r, c))
            if below is None and above is None:
                continue
            pair = (below, above) if below is not None and above is not None else None
            segments.append((False, ys[r], xs[c], xs[c + 1], pair))
    shared = [s for s in segments if s[4] is not None]
    # A random spanning tree of the room adjacency graph gets doors; other shared walls get one sometimes.
    parent = list(range(len(index)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    with_door = set()
    for k in rng.permutation(len(shared)):
        a, b = shared[k][4]
        if find(a) != find(b):
            parent[find(a)] = find(b)
            with_door.add(int(k))
        elif rng.random() < 0.3:
            with_door.add(int(k))
    walls: list[Rect] = []
    doors: list[Door] = []
    for vertical, coord, lo, hi, pair in segments:
        k = shared.index((vertical, coord, lo, hi, pair)) if pair is not None else -1
        pieces = [(lo - h, hi + h)]
        if k in with_door:
            width = rng.uniform(*DOOR_WIDTH)
            mid = rng.uniform(lo + h + 0.35 + width / 2, hi - h - 0.35 - width / 2)
            pieces = [(lo - h, mid - width / 2), (mid + width / 2, hi + h)]
            gap = (
                Rect(coord - h, mid - width / 2, coord + h, mid + width / 2)
                if vertical
                else Rect(mid - width / 2, coord - h, mid + width / 2, coord + h)
            )
            doors.append(Door(pair[0], pair[1], gap, vertical))
        for a, b in pieces:
            walls.append(Rect(coord - h, a, coord + h, b) if vertical else Rect(a, coord - h, b, coord + h))
    return walls, doors


def _furnish(rng, rooms, doors, palette, shrink: int) -> list[PlacedObject]:
    names = list(CATEGORIES)
    keep_out = {r.index: [] for r in rooms}
    for d in doors:  # the doorway and a clearance zone on both sides stay free of furniture
        zone = d.gap.grow(0.2)
        zone = (
            Rect(zone.x0 - DOOR_CLEARANCE, zone.y0, zone.x1 + DOOR_CLEARANCE, zone.y1)
            if d.vertical
            else Rect(zone.x0, zone.y0 - DOOR_CLEARANCE, zone.x1, zone.y1 + DOOR_CLEARANCE)
        )
        keep_out[d.a].append(zone)
        keep_out[d.b].append(zone)
    objects: list[PlacedObject] = []
    for room in rooms:
        count = max(2, int(rng.integers(3, 6)) - shrink)
        taken = list(keep_out[room.index])
        for _ in range(count):
            category = CATEGORIES[names[int(rng.integers(len(names)))]]
            colour = palette[int(rng.integers(len(palette)))]
            placed = _place(rng, room.interior, category, taken)
            if placed is None:
                continue
            center, yaw, half = placed
            obj = PlacedObject(len(objects), category.name, colour, room.index, center, yaw, half)
            objects.append(obj)
            taken.append(obj.footprint.grow(OBJECT_GAP))
    return objects


def _place(rng, interior: Rect, category, taken: list[Rect], tries: int = 30):
    """Rejection-sample a pose for one object; wall-backed categories face into the room."""
    for _ in range(tries):
        hx, hy = category.sample_size(rng)
        if category.against_wall:
            side = int(rng.integers(4))  # 0: back to the -x wall (faces +x), 1: -y, 2: +x, 3: +y
            yaw = side * np.pi / 2
            ex, ey = (hx, hy) if side % 2 == 0 else (hy, hx)
            if side == 0:
                x, y = interior.x0 + ex + 0.02, rng.uniform(interior.y0 + ey, interior.y1 - ey)
            elif side == 2:
                x, y = interior.x1 - ex - 0.02, rng.uniform(interior.y0 + ey, interior.y1 - ey)
            elif side == 1:
                x, y = rng.uniform(interior.x0 + ex, interior.x1 - ex), interior.y0 + ey + 0.02
            else:
                x, y = rng.uniform(interior.x0 + ex, interior.x1 - ex), interior.y1 - ey - 0.02
        else:
            yaw = int(rng.integers(4)) * np.pi / 2
            ex, ey = (hx, hy) if round(yaw / (np.pi / 2)) % 2 == 0 else (hy, hx)
            margin = 0.3
            if interior.x1 - interior.x0 < 2 * (ex + margin) or interior.y1 - interior.y0 < 2 * (ey + margin):
                continue
            x = rng.uniform(interior.x0 + ex + margin, interior.x1 - ex - margin)
            y = rng.uniform(interior.y0 + ey + margin, interior.y1 - ey - margin)
        box = Rect(x - ex, y - ey, x + ex, y + ey)
        if box.inside(interior) and not any(box.overlaps(t) for t in taken):
            return (float(x), float(y)), float(yaw), (hx, hy)
    return None
