"""vla/Habitat-v0: habitat-sim scenes and habitat-lab episodes through the navigation suite's schema.

Observation and action exactly as vla/PointNav-v0 etc. (envs/navigation/nav_env.py, schema.py):
observation.images.rgb uint8 (H, W, 3), observation.images.depth uint8 (H, W, 3) grey
(metres = value / 255 * max_depth), observation.state float32 (PointNav 5: rho, phi, GPS x ahead,
GPS y left, compass; ObjectNav and VLN 3: GPS, compass), task (the instruction, printable ASCII).
Action: Discrete(4) STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT.

STOP ends the episode (terminated); success is a geodesic distance to the goal below the task's
success distance at STOP, as in habitat-lab (ObjectNav: to the object's view points). Reward: 1.0 on
success (reward_shaping=True: habitat-lab's shaped PointNav reward). info as in the suite:
is_success, task_name, instruction, distance_to_goal, collisions, episode_id, scene_id; at the end
also success, spl, softspl, path_length, start_distance and agent_path (habitat world x, -z).

Episodes: reset(options={"episode_id": ...} or {"episode_index": i}) picks one; otherwise each reset
draws one with the env's seeded generator, so a seed fixes the sequence of episodes.
Runs inside a conda env with habitat-sim, usually behind `python -m vla.envs.server` (README).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vla.envs.navigation.metrics import EpisodeMeasures
from vla.errors import VlaUserError

from .config import HabitatConfig
from .episodes import NavEpisode, load_episodes, resolve_scene_path
from .observation import map_observation, normalize_instruction, observation_space, state_names
from .schema import ACTION_NAMES, MOVE_FORWARD, OBS_IMAGE_EGOMAP, OBS_IMAGE_RGB, OBS_STATE, SIM_ACTIONS, STOP
from .sim import HabitatSim, NavSim, import_habitat_sim

SimFactory = Callable[[HabitatConfig, float], NavSim]
SLACK_REWARD, SHAPED_SUCCESS_REWARD = -0.01, 2.5  # habitat-lab's PointNav reward


class HabitatNavEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        config: HabitatConfig | None = None,
        render_mode: str | None = None,
        sim_factory: SimFactory | None = None,
        **overrides: Any,
    ):
        if sim_factory is None:
            import_habitat_sim()  # fail with the install hint before anything else
        if config is None:
            if "dataset" not in overrides:
                raise VlaUserError("vla/Habitat-v0 needs dataset=<habitat-lab episode file (.json.gz)>")
            config = HabitatConfig(**overrides)
        elif overrides:
            config = HabitatConfig(**{**config.__dict__, **overrides})
        if render_mode not in (None, "rgb_array"):
            raise VlaUserError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        self.config = config
        self.render_mode = render_mode
        self.episodes = load_episodes(config.dataset, config.task, config.scenes)
        tasks = sorted({e.task_type for e in self.episodes})
        if len(tasks) != 1:
            raise VlaUserError(f"{config.dataset} mixes task types {tasks}; pass task=... or one split")
        self.task_name = tasks[0]
        turn, self.success_distance, self.max_steps = config.for_task(self.task_name)
        self.goal_in_state = self.task_name == "pointnav"  # ObjectNav and VLN agents must find the goal
        self.state_names = list(state_names(self.goal_in_state))
        self.action_names = ["nav.action_id"]
        self.sim: NavSim = (sim_factory or HabitatSim)(config, turn)
        self.observation_space = observation_space(config.image_hw, self.goal_in_state, config.egomap)
        self.egomap = egomap_for(config) if config.egomap else None
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self.episode: NavEpisode | None = None
        self._rgb: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.episode = ep = self._pick_episode(options or {})
        self.instruction = normalize_instruction(ep.instruction)
        self.sim.load_scene(str(resolve_scene_path(ep.scene_id, self.config.scenes_dir)))
        self.sim.set_agent_pose(np.asarray(ep.start_position), ep.start_rotation)
        self._steps = 0
        distance = self._distance_to_goal()
        start = ep.geodesic_distance if ep.geodesic_distance is not None else distance
        self.measures = EpisodeMeasures(start_distance=start, success_distance=self.success_distance)
        self.measures.distance_to_goal = distance
        self.measures.start(*self._xy())
        self._commanded_forward = 0.0  # m the last action asked the base to move (the egomap's bump layer)
        if self.egomap is not None:
            self.egomap.reset()
        return self._observation(), self._info(done=False)

    def step(self, action):
        if self.episode is None:
            raise VlaUserError("call reset() before step()")
        action = int(np.asarray(action).reshape(-1)[0])  # an int, or a 1-element array (a dataset row)
        if not 0 <= action < len(ACTION_NAMES):
            raise VlaUserError(f"action {action} is not one of 0..3 ({', '.join(ACTION_NAMES)})")
        self._steps += 1
        self._commanded_forward = self.config.forward_step if action == MOVE_FORWARD else 0.0
        m = self.measures
        previous = m.distance_to_goal
        if action == STOP:
            m.stop_called = True
        else:
            collided = self.sim.act(SIM_ACTIONS[action])
            m.update(*self._xy(), collided=collided, distance_to_goal=self._distance_to_goal())
        success = m.success
        if self.config.reward_shaping:
            reward = SLACK_REWARD + _progress(previous, m.distance_to_goal) + SHAPED_SUCCESS_REWARD * success
        else:
            reward = float(success)
        terminated = action == STOP
        truncated = not terminated and self._steps >= self.max_steps
        return self._observation(), float(reward), terminated, truncated, self._info(terminated or truncated)

    def render(self):
        return None if self._rgb is None else self._rgb.copy()

    def close(self) -> None:
        self.sim.close()

    def _pick_episode(self, options: dict) -> NavEpisode:
        if "episode_id" in options:
            wanted = str(options["episode_id"])
            for ep in self.episodes:
                if ep.episode_id == wanted:
                    return ep
            raise VlaUserError(f"no episode with id {wanted!r} in {self.config.dataset}")
        if "episode_index" in options:
            i = int(options["episode_index"])
            if not 0 <= i < len(self.episodes):
                raise VlaUserError(f"episode_index {i} is outside 0..{len(self.episodes) - 1}")
            return self.episodes[i]
        return self.episodes[int(self.np_random.integers(len(self.episodes)))]

    def _xy(self) -> tuple[float, float]:
        position, _ = self.sim.agent_pose()
        return float(position[0]), float(-position[2])  # top-down, right-handed

    def _distance_to_goal(self) -> float:
        position, _ = self.sim.agent_pose()
        targets = [np.asarray(t) for g in self.episode.goals for t in g.targets]
        return float(self.sim.geodesic_distance(position, targets))

    def _observation(self) -> dict:
        rgb, depth = self.sim.sensors()
        position, rotation = self.sim.agent_pose()
        goal = np.asarray(self.episode.goals[0].position) if self.goal_in_state else None
        obs = map_observation(rgb, depth, position, rotation, self.episode, goal, self.config.max_depth)
        self._rgb = obs[OBS_IMAGE_RGB]
        if self.egomap is not None:
            state = obs[OBS_STATE]
            gps, compass = (float(state[-3]), float(state[-2])), float(state[-1])
            depth_m = np.asarray(depth, np.float32).reshape(obs[OBS_IMAGE_RGB].shape[:2])
            self.egomap.update(depth_m, gps, compass, commanded_forward=self._commanded_forward)
            polar = (float(state[0]), float(state[1])) if self.goal_in_state else None
            obs[OBS_IMAGE_EGOMAP] = self.egomap.image(gps, compass, polar)
        return obs

    def _info(self, done: bool) -> dict:
        m, ep = self.measures, self.episode
        info: dict[str, Any] = {
            "is_success": bool(done and m.success),
            "task_name": self.task_name,
            "instruction": self.instruction,
            "distance_to_goal": float(m.distance_to_goal),
            "collisions": int(m.collisions),
            "episode_id": ep.episode_id,
            "scene_id": ep.scene_id,
        }
        if done:
            info.update(m.summary())
            info["agent_path"] = np.asarray(m.path, dtype=np.float32)
        return info


def egomap_for(config: HabitatConfig):
    """The MuJoCo suite's egocentric map with this agent's camera: at the base centre, sensor_height up, hfov wide."""
    import math

    from vla.envs.navigation.egomap import EgoMap, EgoMapSpec

    h, w = config.image_hw
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(config.hfov) / 2) * h / w))  # square pixels
    spec = EgoMapSpec(size=(h, w), window=config.egomap_window, camera_height=config.sensor_height,
                      camera_forward=0.0, vfov_deg=vfov)  # fmt: skip
    return EgoMap(spec)


def _progress(previous: float, distance: float) -> float:
    """Decrease of the geodesic distance; 0 where either is infinite (goal unreachable from there)."""
    return previous - distance if np.isfinite(previous) and np.isfinite(distance) else 0.0
