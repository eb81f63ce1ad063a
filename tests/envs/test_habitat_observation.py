"""Habitat sensor maths (GPS, compass, polar point goal) on known numbers, and the observation mapping."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vla.envs.habitat.episodes import NavEpisode, NavGoal
from vla.envs.habitat.geometry import (
    episodic_compass,
    episodic_gps,
    nav_state,
    pointgoal_polar,
    quat_from_coeffs,
    quat_from_yaw,
    quat_rotate,
)
from vla.envs.habitat.observation import map_observation, normalize_instruction, observation_space
from vla.envs.habitat.schema import OBS_IMAGE_DEPTH, OBS_IMAGE_RGB, OBS_STATE, TASK
from vla.envs.navigation.depth import decode_depth

IDENTITY = quat_from_yaw(0.0)
LEFT_90 = quat_from_yaw(math.pi / 2)  # habitat: +yaw about y (up) turns the agent to its left


def test_quaternion_rotation_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xyzw = rng.normal(size=4)
        v = rng.normal(size=3)
        expected = Rotation.from_quat(xyzw / np.linalg.norm(xyzw)).apply(v)  # scipy uses x, y, z, w too
        assert np.allclose(quat_rotate(quat_from_coeffs(xyzw), v), expected)


@pytest.mark.parametrize(
    "goal, rho, phi",
    [
        ((0, 0, -2), 2.0, 0.0),  # straight ahead (agent looks along -z)
        ((2, 0, 0), 2.0, -math.pi / 2),  # to the right: negative angle
        ((-1, 0, -1), math.sqrt(2), math.pi / 4),  # ahead-left
        ((0, 5, -3), 3.0, 0.0),  # height is ignored (2-D point goal)
        ((0, 0, 1), 1.0, math.pi),  # behind
    ],
)
def test_pointgoal_polar_from_the_start_pose(goal, rho, phi):
    r, p = pointgoal_polar((0, 0, 0), IDENTITY, goal)
    assert math.isclose(r, rho) and math.isclose(abs(p), abs(phi), abs_tol=1e-12)
    assert math.isclose(p, phi, abs_tol=1e-12) or math.isclose(abs(phi), math.pi)


def test_pointgoal_follows_the_agent_pose():
    # turned 90 degrees left at (1, 0, 1): the goal at (-1, 0, 1) is 2 m straight ahead
    assert np.allclose(pointgoal_polar((1, 0, 1), LEFT_90, (-1, 0, 1)), (2.0, 0.0))
    # ... and the goal at (1, 0, -2) (world -z) is now 3 m to its right
    assert np.allclose(pointgoal_polar((1, 0, 1), LEFT_90, (1, 0, -2)), (3.0, -math.pi / 2))


def test_gps_and_compass_are_relative_to_the_episode_start():
    assert np.allclose(episodic_gps((0, 0, -1), (0, 0, 0), IDENTITY), (1.0, 0.0))  # 1 m forward
    assert np.allclose(episodic_gps((1, 0, 0), (0, 0, 0), IDENTITY), (0.0, 1.0))  # 1 m right
    # start at (2, 0, 3) facing world -x (turned left 90 deg): walking to (0, 0, 3) is 2 m forward
    assert np.allclose(episodic_gps((0, 0, 3), (2, 0, 3), LEFT_90), (2.0, 0.0))
    assert np.allclose(episodic_gps((2, 0, 2), (2, 0, 3), LEFT_90), (0.0, 1.0))  # world -z is its right
    assert math.isclose(episodic_compass(LEFT_90, IDENTITY), math.pi / 2)
    assert math.isclose(episodic_compass(quat_from_yaw(-0.3), IDENTITY), -0.3)
    assert math.isclose(episodic_compass(quat_from_yaw(1.0), quat_from_yaw(0.4)), 0.6)
    assert math.isclose(episodic_compass(quat_from_yaw(3.0), quat_from_yaw(-3.0)), 6.0 - 2 * math.pi)  # wraps


def test_nav_state_vector():
    # start and agent both turned 0.4 rad left of world -z; the agent walked 1 m along world -z
    start = quat_from_coeffs([0, math.sin(0.2), 0, math.cos(0.2)])  # habitat [x, y, z, w] for yaw 0.4
    state = nav_state((0, 0, -1), quat_from_yaw(0.4), (0, 0, 0), start, goal=(0, 0, -4))
    assert state.dtype == np.float32 and state.shape == (5,)
    # goal 3 m along world -z, i.e. 0.4 rad to the agent's right; the walk was cos 0.4 ahead and sin 0.4 to the
    # right, so the suite's GPS (x ahead, y left) has y = -sin 0.4 (habitat-lab's GPS would say +sin 0.4)
    assert np.allclose(state, [3.0, -0.4, math.cos(0.4), -math.sin(0.4), 0.0], atol=1e-6)
    state = nav_state((0, 0, -1), LEFT_90, (0, 0, 0), IDENTITY, goal=None)  # no point goal: GPS + compass
    assert np.allclose(state, [1.0, 0.0, math.pi / 2])


def _episode():
    return NavEpisode(
        episode_id="3",
        scene_id="gibson/Cantwell.glb",
        start_position=(0.0, 0.0, 0.0),
        start_rotation=(0.0, 0.0, 0.0, 1.0),
        goals=(NavGoal(position=(0.0, 0.0, -2.0)),),
        task_type="pointnav",
        instruction="go to the goal point",
    )


def test_map_observation_to_the_schema():
    rgba = np.arange(4 * 6 * 4, dtype=np.uint8).reshape(4, 6, 4)
    depth = np.linspace(0.0, 12.0, 24, dtype=np.float32).reshape(4, 6)
    obs = map_observation(rgba, depth, np.array([1.0, 0.0, 0.0]), IDENTITY, _episode(), np.array([0, 0, -2]), 10.0)
    assert obs[OBS_IMAGE_RGB].shape == (4, 6, 3) and obs[OBS_IMAGE_RGB].dtype == np.uint8
    assert np.array_equal(obs[OBS_IMAGE_RGB], rgba[..., :3])
    d = obs[OBS_IMAGE_DEPTH]
    assert d.shape == (4, 6, 3) and d.dtype == np.uint8 and np.array_equal(d[..., 0], d[..., 2])
    assert d[0, 0, 0] == 0 and d[-1, -1, 0] == 255  # 0 m -> 0, beyond max_depth (10 m) -> 255
    assert abs(decode_depth(d, 10.0)[1, 0] - depth[1, 0]) <= 10.0 / 255 / 2 + 1e-6  # 6 x 12/23 m, quantised
    # 1 m right of the start: goal 2 m ahead and 1 m left; GPS y (left) = -1
    assert np.allclose(obs[OBS_STATE], [math.sqrt(5), math.atan2(1, 2), 0.0, -1.0, 0.0], atol=1e-6)
    assert obs[TASK] == "go to the goal point"
    assert observation_space((4, 6), goal_in_state=True).contains(obs)


def test_instructions_become_printable_ascii():
    text = "Walk past the  café,\nthen “stop” by the piano\u2014there. "
    assert normalize_instruction(text) == 'Walk past the cafe, then "stop" by the piano-there.'
