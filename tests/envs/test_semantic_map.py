"""The semantic map (`semantic_map=True`): the egocentric map plus where the camera has seen the goal
objects, from MuJoCo's segmentation pass. The goal cells must land on the goal objects' footprints (the
privileged layout the map never reads), appear only once a goal object has been in view, stay off the
plain egomap, and PointNav (no goal objects) refuses the option in one line."""

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vla.envs as E
from vla.envs.navigation.egomap import GOAL, EgoMap, EgoMapSpec
from vla.envs.navigation.nav_env import OBS_IMAGE_EGOMAP, OBS_IMAGE_SEMANTIC_MAP
from vla.errors import VlaUserError
from vla.policies.experts import make_nav_expert

SIZE = 64


def test_goal_pixels_land_where_depth_puts_them_and_only_in_the_semantic_image():
    m = EgoMap(EgoMapSpec(size=(SIZE, SIZE), camera_forward=0.0))
    depth = np.full((32, 32), 2.0)  # a plane 2 m ahead
    mask = np.zeros((32, 32), bool)
    mask[:, 24:] = True  # the right quarter of the view shows a goal object
    m.update(depth, (0.0, 0.0), 0.0, goal_mask=mask)
    i, j = np.nonzero(m.seen_goal)
    x = (i - m.n // 2 + 0.5) * m.spec.cell
    y = (j - m.n // 2 + 0.5) * m.spec.cell
    cell = m.spec.cell
    assert len(x) >= 5 and np.all(np.abs(x - 2.0) <= cell), "2 m ahead"
    # Columns 24..31 of a 90 degree camera: lateral offsets 1..2 m to the right (y negative).
    assert y.max() <= -1.0 + cell and y.min() >= -2.0 - 2 * cell
    semantic = m.image((0.0, 0.0), 0.0, seen_goal=True)[..., 0]
    plain = m.image((0.0, 0.0), 0.0)[..., 0]
    assert (semantic == GOAL).sum() >= 5 and not (plain == GOAL).any()
    rows, cols = np.nonzero(semantic == GOAL)
    assert np.all(cols > SIZE / 2), "drawn on the agent's right, heading up"
    m.reset()
    assert not m.seen_goal.any()


def test_check_env_passes_and_pointnav_refuses_in_one_line():
    env = E.make_env("objectnav", image_size=32, semantic_map=True)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    assert not [str(r.message) for r in records if "gymnasium" in r.filename]
    spaces = set(env.observation_space.spaces)
    assert OBS_IMAGE_SEMANTIC_MAP in spaces and OBS_IMAGE_EGOMAP not in spaces, "independent of egomap"
    with pytest.raises(VlaUserError, match="use egomap") as e:
        E.make_env("pointnav", semantic_map=True)
    assert "\n" not in str(e.value)


def test_segmentation_names_the_furniture_in_view():
    env = E.make_env("objectnav", image_size=SIZE, semantic_map=True, split="test")
    env.reset(seed=100002)
    u = env.unwrapped
    *_, ids = u.scene.render_rgbd(metric=True, objects=True)
    shown = set(np.unique(ids).tolist())
    indices = {o.index for o in u.house.objects}
    assert -1 in shown, "walls and floor are background"
    assert shown - {-1} <= indices


@pytest.mark.parametrize("task,seed", [("objectnav", 100002), ("objectnav", 100005), ("instructnav", 100003)])
def test_goal_cells_of_an_explored_episode_lie_on_the_goal_objects(task, seed):
    env = E.make_env(task, image_size=SIZE, semantic_map=True, egomap=True, split="test")
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    expert = make_nav_expert(env, "explore")
    seen_at = None
    for step in range(500):
        semantic = obs[OBS_IMAGE_SEMANTIC_MAP][..., 0]
        assert not (obs[OBS_IMAGE_EGOMAP][..., 0] == GOAL).any(), "the plain map never shows goal objects"
        if seen_at is None and (semantic == GOAL).any():
            seen_at = step
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"] and seen_at is not None, "the goal is on the map before the teacher stops at it"
    # Every goal cell, in world coordinates, lies on (or one cell beside) a goal object's footprint.
    m, s = u.egomap, u.episode.start
    i, j = np.nonzero(m.seen_goal)
    x, y = (i - m.n // 2 + 0.5) * m.spec.cell, (j - m.n // 2 + 0.5) * m.spec.cell
    wx = s.x + math.cos(s.yaw) * x - math.sin(s.yaw) * y
    wy = s.y + math.sin(s.yaw) * x + math.cos(s.yaw) * y
    goals = [o for o in u.house.objects if o.index in u.episode.goal_objects]
    assert goals and len(wx) >= 5

    def gap(o) -> np.ndarray:  # distance of each cell centre outside the footprint rectangle
        f = o.footprint
        (cx, cy), (hx, hy) = f.center, f.half
        return np.hypot(np.maximum(np.abs(wx - cx) - hx, 0), np.maximum(np.abs(wy - cy) - hy, 0))

    nearest = np.min([gap(o) for o in goals], axis=0)
    assert np.quantile(nearest, 0.95) <= 1.5 * m.spec.cell and nearest.max() <= 0.5, nearest.max()
