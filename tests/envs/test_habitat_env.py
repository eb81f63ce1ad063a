"""vla/Habitat-v0's episode, reward and metric logic with a stand-in simulator (habitat-sim is not installed
here), and the one-line install hint when habitat-sim is missing."""

import gzip
import importlib.util
import json
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vla.envs  # noqa: F401  (registers vla/Habitat-v0)
from vla.envs.habitat import schema as S
from vla.envs.habitat.config import HabitatConfig
from vla.envs.habitat.env import HabitatNavEnv
from vla.envs.habitat.geometry import quat_from_coeffs, quat_from_yaw, quat_mul, quat_rotate
from vla.envs.habitat.schema import MOVE_FORWARD, OBS_IMAGE_RGB, OBS_STATE, STOP, TASK, TURN_LEFT, TURN_RIGHT
from vla.errors import VlaUserError

HAS_HABITAT = importlib.util.find_spec("habitat_sim") is not None


class PlaneSim:
    """An empty floor: geodesic = straight-line distance in the x-z plane; moves as habitat-sim's agent does."""

    def __init__(self, config: HabitatConfig, turn_angle: float):
        self.config, self.turn = config, math.radians(turn_angle)
        self.scenes: list[str] = []

    def load_scene(self, scene_path):
        self.scenes.append(scene_path)

    def set_agent_pose(self, position, rotation_xyzw):
        self.position, self.rotation = np.array(position, float), quat_from_coeffs(rotation_xyzw)

    def act(self, action):
        if action == "move_forward":
            self.position = self.position + self.config.forward_step * quat_rotate(self.rotation, [0, 0, -1])
        else:
            self.rotation = quat_mul(self.rotation, quat_from_yaw(self.turn if action == "turn_left" else -self.turn))
        return False

    def agent_pose(self):
        return self.position.copy(), self.rotation.copy()

    def sensors(self):
        h, w = self.config.image_hw
        rgba = np.full((h, w, 4), int(abs(self.position).sum() * 40) % 256, np.uint8)
        return rgba, np.full((h, w), 2.0, np.float32)

    def geodesic_distance(self, position, targets):
        return min(math.hypot(*(np.asarray(t) - position)[[0, 2]]) for t in targets)

    def close(self):
        pass


def _dataset(tmp_path):
    episodes = [
        {  # goal 1 m straight ahead: 4 forward steps of 0.25 m
            "episode_id": "ahead",
            "scene_id": "data/scene_datasets/gibson/Cantwell.glb",
            "start_position": [0.0, 0.0, 0.0],
            "start_rotation": [0, 0, 0, 1],
            "info": {"geodesic_distance": 1.0},
            "goals": [{"position": [0.0, 0.0, -1.0], "radius": None}],
        },
        {  # goal 0.5 m to the left: turn left 90 degrees (9 x 10 deg), 2 steps forward
            "episode_id": "left",
            "scene_id": "data/scene_datasets/gibson/Eudora.glb",
            "start_position": [1.0, 0.0, 1.0],
            "start_rotation": [0, 0, 0, 1],
            "info": {"geodesic_distance": 0.5},
            "goals": [{"position": [0.5, 0.0, 1.0], "radius": None}],
        },
    ]
    path = tmp_path / "val.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"episodes": episodes}).encode()))
    return str(path)


def _env(tmp_path, **kwargs):
    kwargs = {"dataset": _dataset(tmp_path), "scenes_dir": "/scenes", "image_size": 16, **kwargs}
    return HabitatNavEnv(sim_factory=PlaneSim, **kwargs)


def test_pointnav_episode_success_reward_and_spl(tmp_path):
    env = _env(tmp_path)
    obs, info = env.reset(options={"episode_id": "ahead"})
    assert env.sim.scenes == ["/scenes/gibson/Cantwell.glb"]
    assert obs[OBS_IMAGE_RGB].shape == (16, 16, 3) and obs[TASK] == "go to the goal point"
    assert np.allclose(obs[OBS_STATE], [1.0, 0.0, 0.0, 0.0, 0.0])
    assert info["distance_to_goal"] == 1.0 and not info["is_success"] and info["task_name"] == "pointnav"
    for _ in range(4):
        obs, reward, terminated, truncated, info = env.step(MOVE_FORWARD)
        assert reward == 0.0 and not terminated and not truncated
    state = obs[OBS_STATE]  # at the goal (phi is undefined there), 1 m ahead of the start
    assert abs(state[0]) < 1e-6 and np.allclose(state[2:], [1.0, 0.0, 0.0], atol=1e-6)
    obs, reward, terminated, truncated, info = env.step(np.array([STOP]))  # a dataset row works too
    assert terminated and reward == 1.0 and info["is_success"] and info["success"]
    assert math.isclose(info["spl"], 1.0) and math.isclose(info["path_length"], 1.0)
    assert info["agent_path"].shape == (5, 2) and np.allclose(info["agent_path"][-1], [0.0, 1.0])


def test_shaped_reward_is_habitat_labs(tmp_path):
    env = _env(tmp_path, reward_shaping=True)
    env.reset(options={"episode_id": "ahead"})
    rewards = [env.step(MOVE_FORWARD)[1] for _ in range(4)] + [env.step(STOP)[1]]
    assert np.allclose(rewards, [0.25 - 0.01] * 4 + [2.5 - 0.01])  # progress - slack, + 2.5 on success


def test_turns_detours_and_stopping_short(tmp_path):
    env = _env(tmp_path)
    obs, _ = env.reset(options={"episode_index": 1})
    assert np.allclose(obs[OBS_STATE][:2], [0.5, math.pi / 2])  # goal to the left
    for _ in range(9):
        obs, *_ = env.step(TURN_LEFT)
    assert np.allclose(obs[OBS_STATE], [0.5, 0.0, 0.0, 0.0, math.pi / 2], atol=1e-6)
    obs, *_ = env.step(MOVE_FORWARD)
    assert np.allclose(obs[OBS_STATE], [0.25, 0.0, 0.0, 0.25, math.pi / 2], atol=1e-6)  # GPS y is left
    env.step(TURN_RIGHT)
    env.step(TURN_LEFT)
    for _ in range(2):  # one step too far: 0.25 m past the goal
        obs, *_ = env.step(MOVE_FORWARD)
    obs, reward, terminated, _, info = env.step(STOP)
    assert terminated and not info["is_success"] and info["spl"] == 0.0  # 0.25 m > 0.2 m success distance
    assert math.isclose(info["distance_to_goal"], 0.25, abs_tol=1e-9)


def test_truncation_and_episode_choice(tmp_path):
    env = _env(tmp_path, max_episode_steps=3)
    env.reset(seed=0)
    outcomes = [env.step(TURN_LEFT)[2:4] for _ in range(3)]
    assert outcomes == [(False, False), (False, False), (False, True)]
    firsts = [_env(tmp_path).reset(seed=s)[1]["episode_id"] for s in range(8)]
    assert firsts == [_env(tmp_path).reset(seed=s)[1]["episode_id"] for s in range(8)]  # a seed picks the episode
    assert set(firsts) == {"ahead", "left"}
    with pytest.raises(VlaUserError, match="no episode with id 'nope'"):
        env.reset(options={"episode_id": "nope"})


def test_check_env_passes(tmp_path):
    check_env(_env(tmp_path), skip_render_check=True)


@pytest.mark.parametrize("task", ["pointnav", "objectnav"])
def test_schema_is_the_mujoco_navigation_suites(tmp_path, task):
    """Same keys, action ids, spaces and state layout as vla/PointNav-v0 / vla/ObjectNav-v0."""
    from vla.envs.navigation import nav_env

    assert (S.OBS_IMAGE_RGB, S.OBS_IMAGE_DEPTH, S.ACTION_NAMES, S.MAX_RANGE, S.INSTRUCTION_CHARSET) == (
        nav_env.OBS_IMAGE_RGB, nav_env.OBS_IMAGE_DEPTH, nav_env.ACTION_NAMES_DISCRETE, nav_env.MAX_RANGE,
        nav_env.INSTRUCTION_CHARSET,
    )  # fmt: skip
    assert (S.STOP, S.MOVE_FORWARD, S.TURN_LEFT, S.TURN_RIGHT) == (
        nav_env.STOP, nav_env.MOVE_FORWARD, nav_env.TURN_LEFT, nav_env.TURN_RIGHT
    )  # fmt: skip
    suite = gym.make(f"vla/{'PointNav' if task == 'pointnav' else 'ObjectNav'}-v0", image_size=16).unwrapped
    ours = _env(tmp_path) if task == "pointnav" else _objectnav_env(tmp_path)
    assert ours.state_names == suite.state_names and ours.action_names == suite.action_names
    assert ours.action_space == suite.action_space
    for key, space in suite.observation_space.spaces.items():
        if key == TASK:  # ours allows longer (VLN) instructions
            assert ours.observation_space[key].characters == space.characters
        else:
            assert ours.observation_space[key] == space, key


def test_egomap_matches_the_mujoco_suites_and_maps_the_simulators_depth(tmp_path):
    from vla.envs.navigation import nav_env
    from vla.envs.navigation.egomap import GOAL, OBSTACLE, TRAIL

    assert S.OBS_IMAGE_EGOMAP == nav_env.OBS_IMAGE_EGOMAP
    suite = gym.make("vla/PointNav-v0", image_size=32, egomap=True).unwrapped
    env = _env(tmp_path, image_size=32, egomap=True)
    assert env.observation_space[S.OBS_IMAGE_EGOMAP] == suite.observation_space[S.OBS_IMAGE_EGOMAP]
    assert S.OBS_IMAGE_EGOMAP not in _env(tmp_path).observation_space.spaces
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(options={"episode_id": "ahead"})  # PlaneSim: depth 2 m everywhere, goal 1 m ahead
    first = env.egomap.layer.copy()
    m = obs[S.OBS_IMAGE_EGOMAP][..., 0]
    cell = 8.0 / 32
    rows, cols = np.nonzero(m == OBSTACLE)
    assert len(rows) > 5 and np.all(np.abs((16 - rows - 0.5) * cell - 2.0) <= cell), "the plane 2 m ahead"
    rows, cols = np.nonzero(m == GOAL)
    assert abs((16 - rows.mean() - 0.5) * cell - 1.0) <= cell and abs(cols.mean() - 15.5) <= 1, "goal 1 m ahead"
    for _ in range(2):
        obs, *_ = env.step(MOVE_FORWARD)
    m = obs[S.OBS_IMAGE_EGOMAP][..., 0]
    assert (m[16:18, 15:17] == TRAIL).all(), "0.5 m of trail behind the agent"
    env.reset(options={"episode_id": "ahead"})
    assert np.array_equal(env.egomap.layer, first), "a new episode starts a new map"


def test_egomap_bump_layer_from_a_blocked_forward_step(tmp_path):
    """As in the MuJoCo suite: a MOVE_FORWARD that GPS says went nowhere marks the cells 0.22 m ahead."""
    from vla.envs.navigation.egomap import OBSTACLE

    class WallSim(PlaneSim):
        def act(self, action):
            if action == "move_forward" and self.blocked:
                return True  # the base does not move
            return super().act(action)

    config = dict(dataset=_dataset(tmp_path), image_size=32, egomap=True)
    sims = []

    def factory(cfg, turn):
        sims.append(WallSim(cfg, turn))
        return sims[-1]

    env = HabitatNavEnv(sim_factory=factory, **config)
    env.reset(options={"episode_id": "ahead"})
    sims[-1].blocked = False
    obs, *_ = env.step(MOVE_FORWARD)  # moves 0.25 m: no bump
    cell = 8.0 / 32
    ahead = lambda m, metres: m[int(16 - metres / cell), 15:17]  # noqa: E731  the row `metres` ahead
    assert not (ahead(obs[S.OBS_IMAGE_EGOMAP][..., 0], 0.22) == OBSTACLE).any()
    sims[-1].blocked = True
    obs, *_ = env.step(MOVE_FORWARD)
    assert (ahead(obs[S.OBS_IMAGE_EGOMAP][..., 0], 0.22) == OBSTACLE).all(), "the blocked step marks ahead"


def _objectnav_env(tmp_path):
    data = {
        "goals_by_category": {"a.glb_chair": [{"position": [0, 0, -1], "view_points": []}]},
        "episodes": [
            {"episode_id": "0", "scene_id": "a.glb", "start_position": [0, 0, 0], "start_rotation": [0, 0, 0, 1],
             "goals": [], "object_category": "chair"}
        ],
    }  # fmt: skip
    path = tmp_path / "objectnav.json"
    path.write_text(json.dumps(data))
    return HabitatNavEnv(sim_factory=PlaneSim, dataset=str(path), image_size=16)


@pytest.mark.skipif(HAS_HABITAT, reason="habitat-sim is installed here")
def test_without_habitat_sim_construction_says_how_to_install(tmp_path):
    with pytest.raises(VlaUserError) as e:
        gym.make("vla/Habitat-v0", dataset=_dataset(tmp_path))
    message = str(e.value)
    assert "\n" not in message and "conda install habitat-sim" in message and "-c aihabitat" in message
