"""Furniture categories built from MuJoCo primitives, and the colour palette they are painted with.

Each category knows its footprint range (what the occupancy map and the object-goal regions use)
and how to build itself from boxes, cylinders and spheres in its own frame: +x is the object's
front, the footprint is the rectangle [-hx, hx] x [-hy, hy], z = 0 is the floor. The `colour` of
an object (what instructions name: "the red chair") paints its main parts; legs, pots and screens
keep fixed materials so the category stays recognisable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Named colours instructions can refer to (linear RGB in [0, 1]), distinct under the scene lighting.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.12, 0.10),
    "green": (0.15, 0.62, 0.20),
    "blue": (0.12, 0.28, 0.82),
    "yellow": (0.92, 0.80, 0.12),
    "white": (0.92, 0.92, 0.90),
    "black": (0.08, 0.08, 0.09),
    "orange": (0.95, 0.48, 0.08),
    "purple": (0.52, 0.18, 0.68),
}
WOOD = (0.45, 0.30, 0.17)
METAL = (0.55, 0.56, 0.58)
SCREEN = (0.03, 0.03, 0.05)
LEAVES = (0.16, 0.45, 0.14)


@dataclass(frozen=True)
class Part:
    """One primitive in the object's frame: MuJoCo geom type name, centre (m), size (MuJoCo convention)."""

    kind: str  # "box" | "cylinder" | "sphere"
    pos: tuple[float, float, float]
    size: tuple[float, ...]
    rgb: tuple[float, float, float]


Builder = Callable[[float, float, tuple[float, float, float]], list[Part]]


@dataclass(frozen=True)
class Category:
    name: str
    hx: tuple[float, float]  # half depth range (front-back), m
    hy: tuple[float, float]  # half width range, m
    against_wall: bool  # placed with its back to a wall (facing into the room)
    build: Builder

    def sample_size(self, rng: np.random.Generator) -> tuple[float, float]:
        return float(rng.uniform(*self.hx)), float(rng.uniform(*self.hy))


def _legs(hx: float, hy: float, height: float, r: float, rgb) -> list[Part]:
    return [
        Part("cylinder", (sx * (hx - r), sy * (hy - r), height / 2), (r, height / 2), rgb)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def _chair(hx, hy, c):
    seat = 0.45
    return [
        *_legs(hx, hy, seat - 0.04, 0.025, WOOD),
        Part("box", (0, 0, seat - 0.02), (hx, hy, 0.03), c),
        Part("box", (-hx + 0.03, 0, seat + 0.25), (0.03, hy, 0.25), c),
    ]


def _table(hx, hy, c):
    top = 0.75
    return [*_legs(hx, hy, top - 0.04, 0.035, WOOD), Part("box", (0, 0, top - 0.02), (hx, hy, 0.025), c)]


def _sofa(hx, hy, c):
    return [
        Part("box", (0, 0, 0.22), (hx, hy, 0.2), c),
        Part("box", (-hx + 0.1, 0, 0.55), (0.1, hy, 0.2), c),
        Part("box", (0.05, hy - 0.08, 0.5), (hx - 0.05, 0.08, 0.1), c),
        Part("box", (0.05, -hy + 0.08, 0.5), (hx - 0.05, 0.08, 0.1), c),
    ]


def _bed(hx, hy, c):
    # Beds stand with the head (-x) against the wall: the long side is x.
    return [
        Part("box", (0, 0, 0.2), (hx, hy, 0.18), WOOD),
        Part("box", (0.08, 0, 0.42), (hx - 0.08, hy - 0.02, 0.06), c),
        Part("box", (-hx + 0.25, 0, 0.5), (0.15, hy - 0.15, 0.05), COLOURS["white"]),
        Part("box", (-hx + 0.03, 0, 0.55), (0.03, hy, 0.35), WOOD),
    ]


def _plant(hx, hy, c):
    r = min(hx, hy)
    return [
        Part("cylinder", (0, 0, 0.2), (r * 0.7, 0.2), c),
        Part("cylinder", (0, 0, 0.55), (0.03, 0.25), WOOD),
        Part("sphere", (0, 0, 0.9), (r,), LEAVES),
    ]


def _tv(hx, hy, c):
    return [
        Part("box", (0, 0, 0.25), (hx, hy, 0.25), c),
        Part("box", (-hx + 0.06, 0, 0.85), (0.03, hy * 0.95, 0.33), SCREEN),
        Part("box", (-hx + 0.04, 0, 0.85), (0.02, hy * 0.95 + 0.02, 0.35), METAL),
    ]


def _cabinet(hx, hy, c):
    h = 0.5
    return [
        Part("box", (0, 0, h), (hx, hy, h), c),
        Part("box", (hx + 0.01, 0, h + 0.2), (0.01, hy - 0.05, 0.005), METAL),
        Part("box", (hx + 0.01, 0, h - 0.2), (0.01, hy - 0.05, 0.005), METAL),
    ]


def _toilet(hx, hy, c):
    return [
        Part("box", (-hx + 0.09, 0, 0.55), (0.09, hy, 0.2), c),
        Part("cylinder", (0.05, 0, 0.2), (min(hx, hy) - 0.02, 0.2), c),
        Part("cylinder", (0.05, 0, 0.41), (min(hx, hy), 0.015), COLOURS["white"]),
    ]


def _lamp(hx, hy, c):
    r = min(hx, hy)
    return [
        Part("cylinder", (0, 0, 0.02), (r * 0.8, 0.02), METAL),
        Part("cylinder", (0, 0, 0.75), (0.02, 0.73), METAL),
        Part("cylinder", (0, 0, 1.5), (r, 0.15), c),
    ]


def _bookshelf(hx, hy, c):
    h = 0.9
    shelves = [Part("box", (0, 0, z), (hx, hy, 0.015), WOOD) for z in (0.3, 0.75, 1.2, 1.65)]
    return [
        Part("box", (-hx + 0.02, 0, h), (0.02, hy, h), c),
        Part("box", (0, hy - 0.02, h), (hx, 0.02, h), c),
        Part("box", (0, -hy + 0.02, h), (hx, 0.02, h), c),
        *shelves,
    ]


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category("chair", (0.22, 0.27), (0.22, 0.27), False, _chair),
        Category("table", (0.35, 0.5), (0.45, 0.75), False, _table),
        Category("sofa", (0.4, 0.48), (0.75, 1.0), True, _sofa),
        Category("bed", (0.95, 1.05), (0.6, 0.85), True, _bed),
        Category("plant", (0.2, 0.28), (0.2, 0.28), False, _plant),
        Category("tv", (0.2, 0.25), (0.45, 0.65), True, _tv),
        Category("cabinet", (0.22, 0.28), (0.35, 0.55), True, _cabinet),
        Category("toilet", (0.3, 0.35), (0.2, 0.23), True, _toilet),
        Category("lamp", (0.17, 0.22), (0.17, 0.22), False, _lamp),
        Category("bookshelf", (0.17, 0.22), (0.4, 0.6), True, _bookshelf),
    )
}
