"""Indoor navigation in procedurally generated MuJoCo houses, as a gymnasium env with Habitat's
task and metric definitions.

Observation (dict, LeRobot keys):
  observation.images.rgb    uint8 (H, W, 3)  egocentric colour camera, 0.88 m high, 90 deg vertical fov
  observation.images.depth  uint8 (H, W, 3)  z-depth, grey: metres = value / 255 * max_depth (depth.py)
  observation.images.egomap uint8 (H, W, 3)  only with egomap=True: top-down map around the agent from its own
                                             depth, GPS and compass (egomap.py), heading up, grey levels
  observation.images.semantic_map            only with semantic_map=True (ObjectNav, InstructNav): the same
                                             map plus where the goal objects were seen (ground-truth semantics)
  observation.state         float32          PointNav (5): pointgoal_with_gps_compass (rho m, phi rad),
                                             GPS (x, y m in the start frame: x ahead, y left), compass (rad);
                                             ObjectNav / InstructNav (3): GPS, compass
  task                      str              the instruction
Action, action_type="discrete": Discrete(4): STOP=0, MOVE_FORWARD=1 (0.25 m), TURN_LEFT=2, TURN_RIGHT=3
  (30 deg); a 1-element array holding the index (a dataset row) is accepted too.
Action, action_type="velocity": float32 (2,) [forward m/s, yaw rate rad/s] held for 1/control_hz s;
  both below habitat-lab's thresholds = STOP.
An episode ends when STOP is called (terminated) or at max_steps (truncated). Reward is 1.0 on a
successful STOP, else 0.0. info carries distance_to_goal and collisions every step, and at the end
the episode metrics (success, spl, softspl, path_length, ...) and the agent's xy path.
"""

from __future__ import annotations

import math
import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vla.constants import OBS_STATE, TASK
from vla.errors import VlaUserError

from .config import NavConfig
from .egomap import EgoMap, EgoMapSpec
from .geodesic import GeodesicGraph
from .layout import House, generate_house
from .metrics import EpisodeMeasures
from .motion import Pose, integrate_velocity, translate, wrap_angle
from .occupancy import OccupancyGrid, build_occupancy
from .scene import NavScene
from .splits import SPLITS
from .tasks import NavEpisode, get_task

OBS_IMAGE_RGB = "observation.images.rgb"
OBS_IMAGE_DEPTH = "observation.images.depth"
OBS_IMAGE_EGOMAP = "observation.images.egomap"
OBS_IMAGE_SEMANTIC_MAP = "observation.images.semantic_map"
STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT = range(4)
ACTION_NAMES_DISCRETE = ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT")
MAX_RANGE = 100.0  # m; bound of GPS and rho in the observation space
INSTRUCTION_CHARSET = string.printable
ROBOT_TYPE = "vla_nav_base"


class NavigationEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    robot_type = ROBOT_TYPE

    def __init__(self, config: NavConfig | None = None, render_mode: str | None = None, **overrides: Any):
        config = config or NavConfig()
        if overrides:
            config = NavConfig(**{**config.__dict__, **overrides})
        if render_mode not in (None, "rgb_array"):
            raise VlaUserError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        self.config = config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": config.control_hz}
        self.task = get_task(config.task)
        self.task_name = self.task.name
        self.max_steps = config.max_steps
        h, w = config.image_hw
        if self.task.uses_pointgoal:
            self.state_names = ["pointgoal.rho", "pointgoal.phi", "gps.x", "gps.y", "compass"]
            low = np.array([0, -math.pi, -MAX_RANGE, -MAX_RANGE, -math.pi], np.float32)
        else:
            self.state_names = ["gps.x", "gps.y", "compass"]
            low = np.array([-MAX_RANGE, -MAX_RANGE, -math.pi], np.float32)
        high = np.array([MAX_RANGE if n != "pointgoal.phi" and n != "compass" else math.pi for n in self.state_names],
                        np.float32)  # fmt: skip
        cameras = {
            OBS_IMAGE_RGB: spaces.Box(0, 255, (h, w, 3), np.uint8),
            OBS_IMAGE_DEPTH: spaces.Box(0, 255, (h, w, 3), np.uint8),
        }
        self.egomap: EgoMap | None = None
        if config.egomap:
            cameras[OBS_IMAGE_EGOMAP] = spaces.Box(0, 255, (h, w, 3), np.uint8)
        if config.semantic_map:
            cameras[OBS_IMAGE_SEMANTIC_MAP] = spaces.Box(0, 255, (h, w, 3), np.uint8)
        if config.egomap or config.semantic_map:  # one accumulated map serves both images
            self.egomap = EgoMap(EgoMapSpec(size=(h, w), window=config.egomap_window))
        self.observation_space = spaces.Dict(
            {
                **cameras,
                OBS_STATE: spaces.Box(low, high, dtype=np.float32),
                TASK: spaces.Text(max_length=256, min_length=1, charset=INSTRUCTION_CHARSET),
            }
        )
        if config.action_type == "discrete":
            self.action_space = spaces.Discrete(4)
            self.action_names = ["nav.action_id"]
        else:
            v = config.velocity
            self.action_space = spaces.Box(
                np.array([-v.max_backward, -v.max_yaw_rate], np.float32),
                np.array([v.max_forward, v.max_yaw_rate], np.float32),
                dtype=np.float32,
            )
            self.action_names = ["base.forward_velocity", "base.yaw_rate"]
        self.house: House | None = None
        self.grid: OccupancyGrid | None = None
        self.graph: GeodesicGraph | None = None
        self.scene: NavScene | None = None
        self.episode: NavEpisode | None = None
        self.pose = Pose(0.0, 0.0, 0.0)
        self.instruction = ""
        self.measures: EpisodeMeasures | None = None
        self._steps = 0
        self._commanded_forward = 0.0  # m the last action asked the base to move (the egomap's bump layer)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """options: {"layout_seed": int} fixes the house (any seed, e.g. from another split)."""
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        lo, hi = SPLITS[self.config.split]
        fixed = options.get("layout_seed")
        for _ in range(50):
            layout_seed = int(fixed) if fixed is not None else int(rng.integers(lo, hi))
            self._load_house(layout_seed)
            episode = self.task.sample(self.house, self.grid, self.graph, rng, self.config)
            if episode is not None:
                break
            if fixed is not None:
                raise VlaUserError(f"layout seed {fixed} has no valid {self.task_name} goal; choose another")
        else:  # pragma: no cover - every task finds goals in nearly every house
            raise RuntimeError(f"no {self.task_name} episode found in 50 houses")
        if not self.observation_space[TASK].contains(episode.instruction):
            raise VlaUserError(f"instruction {episode.instruction!r} must be 1-256 printable ASCII characters")
        self.episode, self.instruction, self.pose, self._steps = episode, episode.instruction, episode.start, 0
        self.measures = EpisodeMeasures(episode.shortest, episode.success_distance)
        self.measures.start(self.pose.x, self.pose.y)
        self.scene.set_pose(self.pose)
        self._commanded_forward = 0.0
        if self.egomap is not None:
            self.egomap.reset()
        return self._observation(), self._info(done=False)

    def step(self, action):
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        stop, collided = self._apply(action)
        self._commanded_forward = self._forward_command(action)
        self._steps += 1
        m = self.measures
        m.update(self.pose.x, self.pose.y, collided, self.episode.field.distance(self.pose.x, self.pose.y))
        m.stop_called = stop
        self.scene.set_pose(self.pose)
        success = m.success
        terminated = stop
        truncated = self._steps >= self.max_steps and not terminated
        return self._observation(), float(success), terminated, truncated, self._info(done=terminated or truncated)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        size = self.config.render_size
        return self.scene.render_rgb((size, size))

    def close(self):
        if self.scene is not None:
            self.scene.close()

    # ------------------------------------------------------------------ internals
    def _load_house(self, layout_seed: int) -> None:
        """Generate and compile a house (kept while consecutive episodes use the same layout)."""
        if self.house is not None and self.house.seed == layout_seed:
            return
        if self.scene is not None:
            self.scene.close()
        self.house = generate_house(layout_seed)
        self.grid = build_occupancy(self.house)
        self.graph = GeodesicGraph(self.grid)
        self.scene = NavScene(self.house, self.config.image_hw, self.config.max_depth)

    def action_id(self, action) -> int:
        """A discrete action from an int or a 1-element array (rounded: a dataset row or a policy output)."""
        a = np.asarray(action)
        if a.size != 1 or not np.all(np.isfinite(a)):
            raise ValueError(f"discrete action must be one of {ACTION_NAMES_DISCRETE} (0-3), got {action!r}")
        k = int(np.rint(a.reshape(())))
        if not 0 <= k < 4:
            raise ValueError(f"discrete action must be one of {ACTION_NAMES_DISCRETE} (0-3), got {action!r}")
        return k

    def _apply(self, action) -> tuple[bool, bool]:
        """Move the base; returns (stop called, collided)."""
        cfg = self.config
        if cfg.action_type == "discrete":
            k = self.action_id(action)
            if k == STOP:
                return True, False
            if k == MOVE_FORWARD:
                self.pose, collided = translate(self.grid, self.pose, cfg.discrete.forward_step)
                return False, collided
            turn = math.radians(cfg.discrete.turn_angle) * (1 if k == TURN_LEFT else -1)
            self.pose = Pose(self.pose.x, self.pose.y, wrap_angle(self.pose.yaw + turn))
            return False, False
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"velocity action has shape {a.shape}, expected (2,) {self.action_names}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or Inf: {a}")
        forward, yaw_rate = np.clip(a, self.action_space.low, self.action_space.high)
        v = cfg.velocity
        if abs(forward) < v.stop_forward and abs(yaw_rate) < v.stop_yaw_rate:
            return True, False
        self.pose, collided = integrate_velocity(self.grid, self.pose, float(forward), float(yaw_rate),
                                                 1.0 / cfg.control_hz)  # fmt: skip
        return False, collided

    def _forward_command(self, action) -> float:
        """Metres the (already validated) action asked the base to move forward."""
        cfg = self.config
        if cfg.action_type == "discrete":
            return cfg.discrete.forward_step if self.action_id(action) == MOVE_FORWARD else 0.0
        return max(0.0, float(np.asarray(action, np.float64).reshape(-1)[0])) / cfg.control_hz

    def gps_compass(self) -> tuple[float, float, float]:
        """Agent position and heading in the episode's start frame (x ahead, y left), as Habitat's sensors."""
        s = self.episode.start
        dx, dy = self.pose.x - s.x, self.pose.y - s.y
        c, si = math.cos(s.yaw), math.sin(s.yaw)
        return c * dx + si * dy, -si * dx + c * dy, wrap_angle(self.pose.yaw - s.yaw)

    def pointgoal(self) -> tuple[float, float]:
        """Habitat's pointgoal_with_gps_compass: the goal in polar coordinates in the agent's frame."""
        gx, gy = self.episode.goal_point
        dx, dy = gx - self.pose.x, gy - self.pose.y
        return math.hypot(dx, dy), wrap_angle(math.atan2(dy, dx) - self.pose.yaw)

    def _state(self) -> np.ndarray:
        x, y, compass = self.gps_compass()
        values = [x, y, compass]
        if self.task.uses_pointgoal:
            values = [*self.pointgoal(), *values]
        state = np.array(values, dtype=np.float32)
        space = self.observation_space[OBS_STATE]
        return np.clip(state, space.low, space.high)

    def _observation(self) -> dict[str, Any]:
        if self.egomap is None:
            rgb, depth = self.scene.render_rgbd()
            return {OBS_IMAGE_RGB: rgb, OBS_IMAGE_DEPTH: depth, OBS_STATE: self._state(), TASK: self.instruction}
        semantic = self.config.semantic_map
        rgb, depth, depth_m, *objects = self.scene.render_rgbd(metric=True, objects=semantic)
        x, y, compass = self.gps_compass()
        goal_mask = np.isin(objects[0], self.episode.goal_objects) if semantic else None
        self.egomap.update(depth_m, (x, y), compass, goal_mask, commanded_forward=self._commanded_forward)
        goal = self.pointgoal() if self.task.uses_pointgoal else None
        obs = {OBS_IMAGE_RGB: rgb, OBS_IMAGE_DEPTH: depth}
        if self.config.egomap:
            obs[OBS_IMAGE_EGOMAP] = self.egomap.image((x, y), compass, goal)
        if semantic:
            obs[OBS_IMAGE_SEMANTIC_MAP] = self.egomap.image((x, y), compass, goal, seen_goal=True)
        return {**obs, OBS_STATE: self._state(), TASK: self.instruction}

    def _info(self, done: bool) -> dict[str, Any]:
        m, ep = self.measures, self.episode
        info: dict[str, Any] = {
            "is_success": bool(done and m.success),
            "task_name": self.task_name,
            "instruction": self.instruction,
            "layout_seed": ep.layout_seed,
            "distance_to_goal": float(m.distance_to_goal),
            "collisions": int(m.collisions),
        }
        if done:
            info.update(m.summary())
            info["agent_path"] = np.asarray(m.path, dtype=np.float32)  # (N, 2) world xy, m
        return info
