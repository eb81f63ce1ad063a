"""The egocentric map sensor (envs/navigation/egomap.py): depth lifted with the camera's intrinsics lands
where the geometry says, the trail and the PointNav goal are drawn at their known pixels, and in real houses
the mapped obstacles and floor agree with the privileged occupancy grid the map never reads."""

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vla.envs as E
from vla.envs.navigation.egomap import FREE, GOAL, OBSTACLE, TRAIL, UNKNOWN, EgoMap, EgoMapSpec, classify
from vla.envs.navigation.nav_env import MOVE_FORWARD, OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP, OBS_IMAGE_RGB
from vla.errors import VlaUserError
from vla.policies.experts.navigation import NavigationExpert

SIZE = 64
CELL = 8.0 / SIZE  # default window 8 m


def grey(image: np.ndarray) -> np.ndarray:
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all(), "one grey value"
    return image[..., 0]


def start_frame_cells(m: EgoMap, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x ahead, y left; metres in the start frame) of the accumulation cells at `level`."""
    i, j = np.nonzero(m.layer == level)
    return (i - m.n // 2 + 0.5) * m.spec.cell, (j - m.n // 2 + 0.5) * m.spec.cell


def test_a_wall_two_metres_ahead_lands_two_metres_ahead_in_both_frames():
    m = EgoMap(EgoMapSpec(size=(SIZE, SIZE), camera_forward=0.0))
    depth = np.full((32, 32), 2.0)  # a plane facing the camera: z-depth 2 m at every pixel
    m.update(depth, (0.0, 0.0), 0.0)
    x, y = start_frame_cells(m, OBSTACLE)
    assert len(x) > 20 and np.all(np.abs(x - 2.0) <= CELL), "every wall hit is 2 m ahead"
    # Heights 0.08-1.8 m of a plane at z = 2 m with a 90 degree fov: the full +-2 m of width.
    assert y.min() == pytest.approx(-2.0, abs=2 * CELL) and y.max() == pytest.approx(2.0, abs=2 * CELL)
    image = grey(m.image((0.0, 0.0), 0.0))
    rows, cols = np.nonzero(image == OBSTACLE)
    assert np.all(np.abs((SIZE / 2 - rows - 0.5) * CELL - 2.0) <= CELL), "the wall is 2 m above the centre"
    # Turned 90 degrees to the left, the agent has the same wall on its right.
    image = grey(m.image((0.0, 0.0), math.pi / 2))
    rows, cols = np.nonzero(image == OBSTACLE)
    assert np.all(np.abs((SIZE / 2 - cols - 0.5) * CELL + 2.0) <= CELL)
    # A camera turned 90 degrees to the left at (1, 1) maps the same plane at y = 1 + 2.
    m.reset()
    assert (m.layer == UNKNOWN).all()
    m.update(depth, (1.0, 1.0), math.pi / 2)
    x, y = start_frame_cells(m, OBSTACLE)
    assert np.all(np.abs(y - 3.0) <= CELL) and x.min() == pytest.approx(-1.0, abs=2 * CELL)


def test_floor_hits_are_free_space_at_their_ground_distance():
    m = EgoMap(EgoMapSpec(size=(SIZE, SIZE), camera_forward=0.0, camera_height=1.0))
    h = w = 16
    f = (h / 2) / math.tan(math.radians(45))
    down = (np.arange(h) + 0.5 - h / 2) / f
    depth = np.zeros((h, w))
    depth[down > 0] = (1.0 / down[down > 0])[:, None]  # the floor plane 1 m below the camera
    m.update(depth, (0.0, 0.0), 0.0)
    x, y = start_frame_cells(m, FREE)
    assert len(x) > 10 and not (m.layer == OBSTACLE).any()
    assert x.min() >= 1.0 - CELL and x.max() <= 6.0 + CELL, "floor from 1 m (45 degrees down) to max_range"


def test_trail_and_goal_marker_at_their_pixels():
    m = EgoMap(EgoMapSpec(size=(SIZE, SIZE)))
    for k in range(5):  # walk 1 m straight ahead, seeing nothing
        m.update(np.zeros((8, 8)), (0.25 * k, 0.0), 0.0)
    image = grey(m.image((1.0, 0.0), 0.0, goal=(1.0, 0.0)))
    centre = SIZE // 2
    behind = image[centre : centre + int(1.0 / CELL) - 1, centre]  # from the agent down to where it started
    assert (behind == TRAIL).all()
    assert image[centre - int(1.0 / CELL) - 1, centre] == GOAL, "goal 1 m ahead"
    assert image[centre, centre - 4 * int(0.25 / CELL)] == UNKNOWN, "1 m to the side was never seen"
    far_left = grey(m.image((1.0, 0.0), 0.0, goal=(100.0, math.pi / 2)))
    rows, cols = np.nonzero(far_left == GOAL)
    assert cols.min() == 0 and abs(rows.mean() - (SIZE / 2 - 0.5)) < 1, "pinned to the left border, level"


def test_classify_undoes_codec_noise():
    levels = np.array([UNKNOWN, FREE, TRAIL, OBSTACLE, GOAL], np.uint8)
    noisy = np.clip(levels.astype(int) + np.array([9, -12, 14, -15, -9]), 0, 255).astype(np.uint8)
    assert (classify(np.repeat(noisy[None, :, None], 3, axis=2))[0] == levels).all()


@pytest.mark.parametrize("task", ["pointnav", "objectnav"])
def test_check_env_passes_with_the_map(task):
    env = E.make_env(task, image_size=32, egomap=True)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    assert not [str(r.message) for r in records if "gymnasium" in r.filename]
    assert {OBS_IMAGE_RGB, OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP} <= set(env.observation_space.spaces)
    assert OBS_IMAGE_EGOMAP not in E.make_env(task, image_size=32).observation_space.spaces, "off by default"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_of_an_expert_episode_agrees_with_the_privileged_occupancy(seed):
    env = E.make_env("pointnav", image_size=SIZE, egomap=True, split="test")
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    expert = NavigationExpert(env)
    first = grey(obs[OBS_IMAGE_EGOMAP])
    assert (first == GOAL).any() and (first == OBSTACLE).any() and (first == FREE).any()
    for _ in range(500):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"]

    def world(level):
        x, y = start_frame_cells(u.egomap, level)
        s = u.episode.start
        wx, wy = s.x + math.cos(s.yaw) * x - math.sin(s.yaw) * y, s.y + math.sin(s.yaw) * x + math.cos(s.yaw) * y
        return [u.grid.is_navigable(a, b) for a, b in zip(wx, wy, strict=True)]

    obstacles, free, trail = world(OBSTACLE), world(FREE), world(TRAIL)
    assert len(obstacles) > 100 and np.mean(obstacles) <= 0.01, "obstacles are never where the robot can stand"
    # Floor hits within the robot's radius of a wall are free floor but not navigable for the robot's centre.
    assert len(free) > 300 and np.mean(free) >= 0.75
    assert len(trail) > 20 and np.mean(trail) >= 0.8  # a 0.12 m disk around a centre that slides along walls
    x, y, _ = u.gps_compass()
    i, j, _ = u.egomap._cells(np.array([x]), np.array([y]))
    assert u.egomap.layer[i[0], j[0]] == TRAIL, "the agent stands on its own trail"


def test_same_seed_same_maps_and_bad_window_is_one_line():
    maps = []
    for _ in range(2):
        env = E.make_env("objectnav", image_size=32, egomap=True)
        obs, _ = env.reset(seed=4)
        seq = [obs[OBS_IMAGE_EGOMAP]]
        for _ in range(6):
            obs, *_ = env.step(MOVE_FORWARD)
            seq.append(obs[OBS_IMAGE_EGOMAP])
        maps.append(np.stack(seq))
    assert np.array_equal(maps[0], maps[1]) and not np.array_equal(maps[0][0], maps[0][-1])
    with pytest.raises(VlaUserError, match="egomap_window"):
        E.make_env("pointnav", egomap=True, egomap_window=0.5)


def test_a_blocked_forward_move_marks_the_cells_ahead_and_a_free_one_does_not():
    m = EgoMap(EgoMapSpec(size=(SIZE, SIZE)))
    blank = np.zeros((16, 16))  # no depth hits: only the trail and the bump layer draw
    m.update(blank, (0.0, 0.0), math.pi / 2)  # first frame: nothing commanded
    m.update(blank, (0.0, 0.25), math.pi / 2, commanded_forward=0.25)  # moved the full step: free
    assert not (m.layer == OBSTACLE).any()
    m.update(blank, (0.0, 0.27), math.pi / 2, commanded_forward=0.25)  # 2 cm of a 25 cm step: blocked
    x, y = start_frame_cells(m, OBSTACLE)
    assert len(x) >= 2 and np.all(np.abs(y - (0.27 + 0.22)) <= CELL) and np.all(np.abs(x) <= 0.1 + CELL)
    m.update(blank, (0.0, 0.27), math.pi / 2, commanded_forward=0.0)  # a turn in place is no bump
    assert len(start_frame_cells(m, OBSTACLE)[0]) == len(x)


def test_pushing_into_a_wall_maps_it_where_the_privileged_grid_is_blocked():
    """In a real house: a MOVE_FORWARD the walls stop is told from GPS alone, and its bump mark lies where
    the privileged grid says the robot's centre cannot go."""
    env = E.make_env("pointnav", image_size=SIZE, egomap=True, split="test")
    env.reset(seed=3)
    u = env.unwrapped
    for _ in range(80):  # straight ahead until a move is blocked
        before = u.gps_compass()
        env.step(MOVE_FORWARD)
        x, y, compass = u.gps_compass()
        if math.hypot(x - before[0], y - before[1]) < 0.5 * 0.25:
            break
    else:
        pytest.fail("80 forward steps never hit anything")
    lateral = np.linspace(-0.1, 0.1, 5)
    ax = x + 0.22 * math.cos(compass) - math.sin(compass) * lateral  # the bump mark, start frame
    ay = y + 0.22 * math.sin(compass) + math.cos(compass) * lateral
    i, j, _ = u.egomap._cells(ax, ay)
    assert (u.egomap.layer[i, j] == OBSTACLE).all()
    s = u.episode.start
    wx = s.x + math.cos(s.yaw) * ax - math.sin(s.yaw) * ay
    wy = s.y + math.sin(s.yaw) * ax + math.cos(s.yaw) * ay
    assert not u.grid.is_navigable(float(wx[2]), float(wy[2])), "straight ahead is blocked for the centre"
