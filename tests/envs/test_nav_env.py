"""The navigation suite through gymnasium: API compliance, determinism, observations, splits, metrics at
episode end, Habitat's success rules in real houses, and the shortest-path expert."""

import math
import pickle
import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vla.envs as E
from vla.constants import OBS_STATE, TASK
from vla.envs.navigation.depth import decode_depth, encode_depth
from vla.envs.navigation.layout import generate_house
from vla.envs.navigation.motion import Pose
from vla.envs.navigation.nav_env import MOVE_FORWARD, OBS_IMAGE_DEPTH, OBS_IMAGE_RGB, STOP, TURN_LEFT
from vla.envs.navigation.objects import CATEGORIES
from vla.envs.navigation.occupancy import build_occupancy, rooms_connected
from vla.envs.navigation.scene import build_spec
from vla.envs.navigation.splits import SPLITS, split_of
from vla.envs.navigation.tasks import object_region
from vla.errors import VlaUserError
from vla.policies.experts.navigation import NavigationExpert

IMAGE = 32


@pytest.mark.parametrize("action_type", ["discrete", "velocity"])
@pytest.mark.parametrize("env_id", list(E.NAVIGATION_IDS))
def test_check_env_passes(env_id, action_type):
    env = gym.make(env_id, image_size=IMAGE, action_type=action_type)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    # Velocity actions are in physical units (m/s, rad/s), which gymnasium's RL-normalisation advice flags.
    advice = "symmetric and normalized space"
    assert not [str(r.message) for r in records if "gymnasium" in r.filename and advice not in str(r.message)]
    env.close()


def test_observation_layout_and_pointgoal():
    env = E.make_env("pointnav", image_size=(48, 64)).unwrapped
    obs, info = env.reset(seed=0)
    assert obs[OBS_IMAGE_RGB].shape == obs[OBS_IMAGE_DEPTH].shape == (48, 64, 3)
    assert obs[OBS_IMAGE_RGB].dtype == obs[OBS_IMAGE_DEPTH].dtype == np.uint8
    assert obs[OBS_IMAGE_RGB].std() > 5, "a real render"
    d = obs[OBS_IMAGE_DEPTH]
    assert (d[..., 0] == d[..., 1]).all() and (d[..., 0] == d[..., 2]).all(), "depth is grey"
    assert obs[OBS_STATE].shape == (5,) and obs[OBS_STATE].dtype == np.float32
    rho, phi, gx, gy, compass = obs[OBS_STATE]
    goal = env.episode.goal_point
    assert rho == pytest.approx(math.dist(goal, (env.pose.x, env.pose.y)), abs=1e-5)
    assert (gx, gy, compass) == (0, 0, 0), "GPS and compass are relative to the start"
    obs, *_ = env.step(MOVE_FORWARD)
    obs, *_ = env.step(TURN_LEFT)
    gx, gy, compass = obs[OBS_STATE][2:]
    assert math.hypot(gx, gy) <= 0.25 + 1e-5 and compass == pytest.approx(math.radians(30), abs=1e-5)
    assert isinstance(obs[TASK], str) and obs[TASK] == info["instruction"]
    for task in ("objectnav", "instructnav"):
        other = E.make_env(task, image_size=IMAGE)
        assert other.observation_space[OBS_STATE].shape == (3,), "GPS + compass only"
        other.close()
    env.close()


def _rollout(env, seed, steps=6):
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    for a in [1, 2, 1, 3, 1, 1][:steps]:
        obs, *_ = env.step(a)
        frames.append(obs)
    return frames


@pytest.mark.parametrize("task", E.NAV_TASK_NAMES)
def test_same_seed_same_episode(task):
    a, b = E.make_env(task, image_size=IMAGE), E.make_env(task, image_size=IMAGE)
    for fa, fb in zip(_rollout(a, 5), _rollout(b, 5), strict=True):
        assert fa[TASK] == fb[TASK]
        for key in (OBS_STATE, OBS_IMAGE_RGB, OBS_IMAGE_DEPTH):
            np.testing.assert_array_equal(fa[key], fb[key])
    other = _rollout(a, 6, steps=0)[0]
    assert not np.array_equal(other[OBS_IMAGE_RGB], _rollout(b, 5, steps=0)[0][OBS_IMAGE_RGB])


def test_splits_are_disjoint_seed_ranges():
    ranges = sorted(SPLITS.values())
    assert all(hi <= lo2 for (_, hi), (lo2, _) in zip(ranges, ranges[1:], strict=False))
    for split in ("train", "val", "test", "heldout"):
        env = E.make_env("objectnav", image_size=IMAGE, split=split).unwrapped
        for seed in range(3):
            _, info = env.reset(seed=seed)
            assert split_of(info["layout_seed"]) == {"heldout": "test"}.get(split, split)
        env.close()
    with pytest.raises(VlaUserError, match="did you mean 'val'"):
        E.make_env("pointnav", split="vall")


def test_bad_input_is_one_line():
    with pytest.raises(VlaUserError, match="did you mean 'objectnav'"):
        E.make_env("objectnv")
    with pytest.raises(VlaUserError, match="action_type"):
        E.make_env("pointnav", action_type="joint")
    env = E.make_env("pointnav", image_size=IMAGE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="STOP"):
        env.step(7)


def test_houses_are_varied_connected_and_compile_cleanly():
    categories, rooms = set(), set()
    for seed in range(12):
        house = generate_house(seed)
        assert rooms_connected(house, build_occupancy(house))
        rooms.add(len(house.rooms))
        categories |= {o.category for o in house.objects}
        model = build_spec(house).compile()
        data = mujoco.MjData(model)
        mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
        mujoco.mj_step(model, data, nstep=20)
        assert [int(w.number) for w in data.warning] == [0] * len(data.warning)
        assert all(model.joint(j).name for j in range(model.njnt))
        for g in range(model.ngeom):
            if model.geom_group[g] == 2:
                assert model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0
    assert rooms == {3, 4, 5} and categories == set(CATEGORIES) and len(categories) >= 8
    assert generate_house(3) == generate_house(3)


def test_depth_encoding_round_trip():
    depth = np.linspace(0, 12, 64, dtype=np.float32).reshape(8, 8)
    back = decode_depth(encode_depth(depth, 10.0), 10.0)
    assert np.abs(back - np.clip(depth, 0, 10)).max() <= 10 / 255 / 2 + 1e-6


def _place(env, x, y):
    env.pose = Pose(x, y, env.pose.yaw)
    env.scene.set_pose(env.pose)


def test_pointnav_stop_at_019_succeeds_and_021_fails():
    env = E.make_env("pointnav", image_size=IMAGE).unwrapped
    results = {}
    for offset in (0.19, 0.21):
        env.reset(seed=2)
        gx, gy = env.episode.goal_point
        for angle in np.linspace(0, 2 * math.pi, 16, endpoint=False):
            x, y = gx + offset * math.cos(angle), gy + offset * math.sin(angle)
            if env.grid.line_of_sight((x, y), (gx, gy)):
                break
        _place(env, x, y)
        _, reward, terminated, _, info = env.step(STOP)
        assert terminated and info["distance_to_goal"] == pytest.approx(offset, abs=1e-9)
        results[offset] = (info["success"], reward)
    assert results == {0.19: (True, 1.0), 0.21: (False, 0.0)}


def test_objectnav_any_instance_counts():
    env = E.make_env("objectnav", image_size=IMAGE).unwrapped
    for seed in range(40):
        env.reset(seed=seed)
        if len(env.episode.goal_objects) >= 2:
            break
    else:
        pytest.fail("no house with two instances of the goal category in 40 seeds")
    objects = [env.house.objects[i] for i in env.episode.goal_objects]
    for obj in objects:
        env.reset(seed=seed)
        mask, _ = object_region(env.grid, env.house, obj, env.config.view_radius)
        i, j = np.argwhere(mask)[len(np.argwhere(mask)) // 2]
        _place(env, *(float(v) for v in env.grid.center(i, j)))
        *_, info = env.step(STOP)
        assert info["success"] and info["distance_to_goal"] == 0.0
    env.reset(seed=seed)
    *_, info = env.step(STOP)
    assert not info["success"] and info["distance_to_goal"] >= 1.0, "starts are at least 1 m from every instance"


def test_episode_end_info_is_plain_and_picklable():
    env = E.make_env("instructnav", image_size=IMAGE, max_steps=5).unwrapped
    _, info = env.reset(seed=1)
    assert {"distance_to_goal", "collisions", "instruction", "layout_seed"} <= set(info)
    for _ in range(5):
        _, _, terminated, truncated, info = env.step(MOVE_FORWARD)
    assert truncated and not terminated
    assert {"success", "spl", "softspl", "distance_to_goal", "collisions", "path_length", "agent_path"} <= set(info)
    assert info["agent_path"].shape == (6, 2) and info["spl"] == 0.0
    assert pickle.loads(pickle.dumps(info))["spl"] == 0.0
    assert pickle.loads(pickle.dumps(env.config)) == env.config


@pytest.mark.parametrize("action_type", ["discrete", "velocity"])
@pytest.mark.parametrize("task", E.NAV_TASK_NAMES)
def test_expert_succeeds_efficiently(task, action_type):
    env = E.make_env(task, image_size=16, action_type=action_type)
    expert = NavigationExpert(env)
    results = []
    for seed in range(500, 506):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        while True:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        results.append((info["success"], info["spl"]))
    assert all(s for s, _ in results)
    assert np.mean([p for _, p in results]) >= 0.9


def test_pointnav_expert_stops_inside_the_radius_not_on_its_edge():
    """The discrete expert takes one more step when it lands deeper, so its STOPs sit well inside 0.2 m."""
    env = E.make_env("pointnav", image_size=16)
    expert = NavigationExpert(env)
    final, edge = [], []
    for seed in range(600, 620):
        obs, _ = env.reset(seed=seed)
        while True:
            u = env.unwrapped
            before = u.episode.field.distance(u.pose.x, u.pose.y)
            action = expert.act(obs)
            if action != 0 and before < u.episode.success_distance:
                edge.append(before)  # inside the radius, yet the expert goes on
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["success"]
        final.append(info["distance_to_goal"])
    # An edge-stopping expert ends anywhere in [0, 0.2) (p90 0.18, max 0.199 on seeds 600-639); this one
    # stops at most ~0.12 m away.
    assert max(final) < 0.15 and np.percentile(final, 90) < 0.13
    assert edge and min(edge) >= 0.2 - 0.1 - 1e-9, "it only goes on from the outer STOP_INSIDE band"
