"""Geodesic distances and Habitat's metrics on hand-built layouts with known answers."""

import math

import numpy as np
import pytest

from vla.envs.navigation.geodesic import GeodesicGraph
from vla.envs.navigation.layout import Rect
from vla.envs.navigation.metrics import EpisodeMeasures, is_success, soft_spl, spl
from vla.envs.navigation.motion import Pose, translate
from vla.envs.navigation.occupancy import occupancy_from_rects


def field_to(grid, x, y):
    return GeodesicGraph(grid).point_goal(x, y)


def test_straight_corridor_geodesic_equals_euclidean():
    grid = occupancy_from_rects([], Rect(0, 0, 5, 1), radius=0.1)
    f = field_to(grid, 4.525, 0.525)
    assert f.distance(0.525, 0.525) == pytest.approx(4.0, abs=1e-9)
    assert f.distance(2.0, 0.5) == pytest.approx(math.hypot(2.525, 0.025), abs=0.01)  # off a cell centre
    assert f.distance(4.525 - 0.19, 0.525) == pytest.approx(0.19, abs=1e-12), "exact near the goal"
    assert f.distance(0.525, 0.05) == math.inf, "within the robot radius of the outer wall"


def test_l_shaped_corridor_geodesic_exceeds_euclidean_by_the_detour():
    # Free L: everything in [0, 3]^2 except the block [1, 3] x [1, 3]; a 1 cm robot radius.
    grid = occupancy_from_rects([Rect(1, 1, 3, 3)], Rect(0, 0, 3, 3), radius=0.01)
    a, b = (2.475, 0.975), (0.975, 2.475)  # both legs run along the block's faces to its corner
    d = field_to(grid, *b).distance(*a)
    assert d == pytest.approx(3.0, abs=1e-9)
    assert d - math.dist(a, b) == pytest.approx(3.0 - 1.5 * math.sqrt(2), abs=1e-9)


def test_oblique_paths_are_within_the_16_neighbourhood_error():
    grid = occupancy_from_rects([], Rect(0, 0, 6, 6), radius=0.1)
    f = field_to(grid, 5.525, 5.525)
    for x, y in [(0.525, 3.025), (0.525, 4.275), (2.0, 0.4), (0.3, 5.5)]:
        true = math.dist((x, y), (5.525, 5.525))
        assert true - 1e-9 <= f.distance(x, y) <= true * 1.028


def test_wall_with_a_doorway():
    wall_with_door = [Rect(1.95, 0, 2.05, 3.0)]  # the doorway is y in [3, 4]
    grid = occupancy_from_rects(wall_with_door, Rect(0, 0, 4, 4), radius=0.1)
    a, b = (1.025, 1.025), (3.025, 1.025)
    d = field_to(grid, *b).distance(*a)
    # Around the inflated wall end at (2.0 +- 0.05, 3.1): two slanted legs and the wall thickness. The grid
    # adds the 16-neighbourhood error (<= 2.7%) and rounds the clearance up to whole cells (here 0.125 m).
    detour = math.hypot(0.925, 2.075) + 0.1 + math.hypot(0.975, 2.075)
    assert detour <= d <= detour * 1.05
    assert d > 2 * math.dist(a, b)
    closed = occupancy_from_rects([Rect(1.95, 0, 2.05, 4)], Rect(0, 0, 4, 4), radius=0.1)
    assert closed.is_navigable(*a) != closed.is_navigable(*b), "without the door only one side is kept"


def test_region_goal_is_zero_inside_and_any_instance_counts():
    grid = occupancy_from_rects([], Rect(0, 0, 6, 2), radius=0.1)
    h, w = grid.shape
    x, y = grid.center(np.arange(h)[:, None], np.arange(w)[None, :])
    near_left, near_right = np.hypot(x - 0.5, y - 1) <= 0.4, np.hypot(x - 5.5, y - 1) <= 0.4
    inside = lambda px, py: math.hypot(px - 0.5, py - 1) <= 0.4 or math.hypot(px - 5.5, py - 1) <= 0.4  # noqa: E731
    f = GeodesicGraph(grid).region_goal(near_left | near_right, inside)
    assert f.distance(0.5, 1.0) == 0.0 and f.distance(5.5, 1.2) == 0.0
    assert f.distance(3.0, 1.0) == pytest.approx(2.1, abs=0.06)  # halfway: 2.5 m to either centre - 0.4


def test_path_follows_the_field_to_the_goal():
    grid = occupancy_from_rects([Rect(1, 1, 3, 3)], Rect(0, 0, 3, 3), radius=0.01)
    f = field_to(grid, 0.975, 2.475)
    path = f.path(2.475, 0.975)
    assert tuple(path[-1]) == (0.975, 2.475)
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).sum() == pytest.approx(3.0, abs=1e-6)


def test_success_edge_cases_and_spl_by_hand():
    assert is_success(True, 0.19, 0.2) and not is_success(True, 0.21, 0.2)
    assert not is_success(True, 0.2, 0.2), "strictly closer, as habitat-lab"
    assert not is_success(False, 0.0, 0.2), "no STOP, no success"
    assert spl(True, 4.0, 5.0) == pytest.approx(0.8)
    assert spl(True, 4.0, 3.9) == 1.0  # stopping inside the radius may shorten the path below l
    assert spl(False, 4.0, 4.0) == 0.0
    assert soft_spl(1.0, 4.0, 4.0, 5.0) == pytest.approx(0.75 * 0.8)
    assert soft_spl(5.0, 4.0, 4.0, 8.0) == 0.0, "ending further than the start"
    m = EpisodeMeasures(start_distance=1.0, success_distance=0.2)
    m.start(0, 0)
    m.update(0.5, 0, collided=False, distance_to_goal=0.5)
    m.update(0.5, 0, collided=True, distance_to_goal=0.5)
    m.update(0.9, 0, collided=False, distance_to_goal=0.1)
    m.stop_called = True
    s = m.summary()
    assert s["success"] and s["collisions"] == 1 and s["path_length"] == pytest.approx(0.9)
    assert s["spl"] == pytest.approx(1.0) and s["softspl"] == pytest.approx(0.9)


def test_motion_slides_along_walls_and_counts_collisions():
    grid = occupancy_from_rects([], Rect(0, 0, 4, 4), radius=0.1)
    pose, hit = translate(grid, Pose(2.0, 2.0, 0.0), 0.25)
    assert (pose.x, pose.y, hit) == (pytest.approx(2.25), 2.0, False)
    # 45 degrees into the top wall: blocked in y, slides on in x.
    pose, hit = translate(grid, Pose(2.0, 3.8, math.pi / 4), 0.25)
    assert hit and pose.y < 3.9 and pose.x > 2.0 + 0.17
    pose, hit = translate(grid, Pose(2.0, 3.8, math.pi / 2), 0.25)
    assert hit and grid.is_navigable(pose.x, pose.y) and pose.x == 2.0
