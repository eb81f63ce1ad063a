"""Language-conditioned tabletop manipulation as a gymnasium env.

Observation (dict, LeRobot keys):
  observation.images.scene  uint8 (H, W, 3)  fixed camera in front of the robot
  observation.images.wrist  uint8 (H, W, 3)  camera on the hand, looking along the gripper
  observation.state         float32 (13,)    5 arm joint angles (rad), gripper gap (m),
                                             tool-centre position (m, base frame), tool quaternion (w, x, y, z)
  task                      str              the instruction
Action, control="ee_delta" (default), float32 (5,):
  [dx, dy, dz] tool-centre displacement per step, m, each in [-0.03, 0.03] (0.3 m/s at 10 Hz)
  dyaw         gripper rotation about the vertical per step, rad, in [-0.25, 0.25]
  gripper      absolute command in [-1, 1]: -1 fully open (8.4 cm), +1 closed
  The tool always points down; targets are clamped to the workspace.
Action, control="joint", float32 (6,): absolute targets for the 5 arm joints (rad, within joint
  limits) and the gripper command as above.
Reward is 1.0 on success steps, else 0.0; an episode terminates on success and is truncated at the
task's time limit. info["is_success"] reports success.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.errors import VlaUserError

from .config import TabletopConfig
from .instructions import TEMPLATES, render_instruction
from .kinematics import ARM_JOINTS
from .scene import FINGER_OPEN, TabletopScene
from .tasks import Episode, get_task

MAX_DPOS = 0.03  # m per control step
MAX_DYAW = 0.25  # rad per control step
WORKSPACE_LOW = np.array([0.15, -0.36, 0.025])  # tool-centre bounds (m, base frame)
WORKSPACE_HIGH = np.array([0.66, 0.36, 0.40])
YAW_LIMIT = 1.6  # rad; keeps the wrist roll inside its joint range
MAX_TRACKING_LAG = 0.05  # m; the commanded target never runs further ahead of the tool
SETTLE_STEPS = 1  # control steps simulated at reset so props come to rest
INSTRUCTION_CHARSET = string.printable


class TabletopEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: TabletopConfig | None = None, render_mode: str | None = None, **overrides: Any):
        config = config or TabletopConfig()
        if overrides:
            config = TabletopConfig(**{**config.__dict__, **overrides})
        if render_mode not in (None, "rgb_array"):
            raise VlaUserError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        self.config = config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": config.control_hz}
        self.tasks = [get_task(t) for t in config.tasks]
        self.scene = TabletopScene(config.image_hw, control_substeps=500 // config.control_hz)
        h, w = config.image_hw
        self.state_names = [f"{j}.pos" for j in ARM_JOINTS] + ["gripper.gap"] + [
            "tcp.x", "tcp.y", "tcp.z", "tcp.qw", "tcp.qx", "tcp.qy", "tcp.qz"
        ]  # fmt: skip
        self.observation_space = spaces.Dict(
            {
                OBS_IMAGE_SCENE: spaces.Box(0, 255, (h, w, 3), np.uint8),
                OBS_IMAGE_WRIST: spaces.Box(0, 255, (h, w, 3), np.uint8),
                OBS_STATE: spaces.Box(*self._state_bounds(), dtype=np.float32),
                TASK: spaces.Text(max_length=256, min_length=1, charset=INSTRUCTION_CHARSET),
            }
        )
        if config.control == "ee_delta":
            self.action_names = ["tcp.dx", "tcp.dy", "tcp.dz", "tcp.dyaw", "gripper"]
            low = np.array([-MAX_DPOS] * 3 + [-MAX_DYAW, -1.0], np.float32)
            high = -low
        else:
            self.action_names = [f"{j}.target" for j in ARM_JOINTS] + ["gripper"]
            low = np.array([*self.scene.arm_range[:, 0], -1.0], np.float32)
            high = np.array([*self.scene.arm_range[:, 1], 1.0], np.float32)
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        self.episode: Episode | None = None
        self.instruction = ""
        self.task_name = self.tasks[0].name if len(self.tasks) == 1 else ""
        self.max_steps = max(t.max_steps for t in self.tasks)  # the episode's own limit once reset
        self._steps = 0
        self._target_pos = np.zeros(3)
        self._target_yaw = 0.0
        self._gripper_cmd = -1.0
        self._joint_targets: np.ndarray | None = None
        self._task = self.tasks[0]

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        task = self.tasks[int(rng.integers(len(self.tasks)))] if len(self.tasks) > 1 else self.tasks[0]
        if "task" in options:
            task = get_task(options["task"])
        self.episode = task.sample(rng, self.config.split, self.scene)
        self.scene.reset(self.episode.layout, rng, self.config.randomize_visuals)
        templates = TEMPLATES[task.name][self.config.split]
        template = templates[int(rng.integers(len(templates)))]
        override = options.get("instruction", self.config.instruction)
        self.instruction = render_instruction(override if override is not None else template, self.episode.fields)
        if not self.observation_space[TASK].contains(self.instruction):
            raise VlaUserError(f"instruction {self.instruction!r} must be 1-256 printable ASCII characters")
        self._task, self.task_name, self.max_steps, self._steps = task, task.name, task.max_steps, 0
        self._joint_targets = None
        self._target_pos = self.scene.tcp_pos()
        self._target_yaw = self.scene.tcp_yaw()
        self._gripper_cmd = -1.0
        for _ in range(SETTLE_STEPS):
            self._apply_control()
            self.scene.step()
        return self._observation(), self._info(False)

    def step(self, action):
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}, expected {self.action_space.shape} ({self.action_names})")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or Inf: {a}")
        self._act(a)
        self._steps += 1
        success = self.episode_success()
        truncated = self._steps >= self.max_steps and not success
        return self._observation(), float(success), success, truncated, self._info(success)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        size = self.config.render_size
        return self.scene.render("scene", (size, size))

    def close(self):
        self.scene.close()

    def advance(self, action: np.ndarray) -> None:
        """Apply one action like step() without rendering an observation, counting a step or judging success.

        For cheap mid-episode views (scene banks play the scripted expert a random number of steps, then
        render once); an episode's step counter and success are not touched."""
        if self.episode is None:
            raise RuntimeError("call reset() before advance()")
        self._act(np.asarray(action, dtype=np.float64).reshape(-1))

    def observe(self) -> dict[str, Any]:
        """The observation of the current simulator state (e.g. after advance())."""
        return self._observation()

    def pose_arm(self, tool_pos: np.ndarray, tool_yaw: float = 0.0, gripper: float = -1.0, steps: int = 15):
        """Drive the tool towards a pose for `steps` control steps without rendering, then observe.

        For generating varied views cheaply (e.g. scene banks for auxiliary losses); an episode's step
        counter and success are not touched. Returns the observation at the reached pose.
        """
        if self.episode is None:
            raise RuntimeError("call reset() before pose_arm()")
        goal = np.clip(np.asarray(tool_pos, dtype=np.float64), WORKSPACE_LOW, WORKSPACE_HIGH)
        self._gripper_cmd = float(np.clip(gripper, -1.0, 1.0))
        for _ in range(steps):
            self._move_target(goal - self._target_pos, tool_yaw - self._target_yaw)
            self._apply_control()
            self.scene.step()
        return self._observation()

    # ------------------------------------------------------------------ control
    def _act(self, a: np.ndarray) -> None:
        """Clip an action to the action space, set the controller's targets and simulate one control step."""
        a = np.clip(a, self.action_space.low, self.action_space.high)
        if self.config.control == "ee_delta":
            self._move_target(a[:3], a[3])
        else:
            self._joint_targets = a[:5]
        self._gripper_cmd = float(a[-1])
        self._apply_control()
        self.scene.step()

    def _move_target(self, dpos: np.ndarray, dyaw: float) -> None:
        target = np.clip(self._target_pos + dpos, WORKSPACE_LOW, WORKSPACE_HIGH)
        tcp = self.scene.tcp_pos()
        lag = target - tcp
        dist = float(np.linalg.norm(lag))
        if dist > MAX_TRACKING_LAG:  # anti-windup when the arm is blocked or saturated
            target = tcp + lag * (MAX_TRACKING_LAG / dist)
        self._target_pos = target
        self._target_yaw = float(np.clip(self._target_yaw + dyaw, -YAW_LIMIT, YAW_LIMIT))

    def _apply_control(self) -> None:
        if self._joint_targets is None:
            q = self.scene.geometry.inverse(self._target_pos, self._target_yaw)
        else:
            q = self._joint_targets
        opening = FINGER_OPEN * (1.0 - self._gripper_cmd) / 2.0
        self.scene.apply_arm_targets(q, opening)

    @property
    def commanded_pose(self) -> tuple[np.ndarray, float]:
        """The tool-centre target the controller is tracking (ee_delta mode)."""
        return self._target_pos.copy(), self._target_yaw

    # ------------------------------------------------------------------ observation
    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical bounds of each state entry: joint limits, gripper gap, reach, unit quaternion."""
        r = self.scene.arm_range
        reach = 1.0  # m; the arm cannot place its tool centre further than this from the base
        low = np.array([*r[:, 0], 0.0, -reach, -reach, -reach, -1, -1, -1, -1], np.float32)
        high = np.array([*r[:, 1], 0.1, reach, reach, reach, 1, 1, 1, 1], np.float32)
        return low, high

    privileged_state_names: tuple[str, ...] = ("target.x", "target.y", "target.z", "goal.x", "goal.y", "goal.z")

    def privileged_state(self) -> np.ndarray:
        """(6,) float32: the named prop's position and where it should go (base frame, m).

        Simulator ground truth for auxiliary losses at training time (LeRobot's
        `observation.environment_state`); it is not part of the observation a policy acts on.
        """
        if self.episode is None:
            raise RuntimeError("call reset() before privileged_state()")
        target = self.scene.prop_pos(self.episode.target)
        goal = self._task.goal_position(self.scene, self.episode)
        return np.concatenate([target, goal]).astype(np.float32)

    def landmark_points(self) -> np.ndarray:
        """(3, 3) float32 base-frame points with known positions that the scene camera always shows: the tool
        centre point and two points on the table's far edge. Labels for a locator's calibration landmarks
        (the scene camera's pose is jittered per episode); the tool point is also in the state."""
        return np.concatenate([self.scene.tcp_pos()[None], self.scene.table_back_edge()]).astype(np.float32)

    def episode_success(self) -> bool:
        return self._task.is_success(self.scene, self.episode)

    def _state(self) -> np.ndarray:
        s = self.scene
        return np.concatenate([s.arm_qpos_now(), [s.finger_opening()], s.tcp_pos(), s.tcp_quat()]).astype(np.float32)

    def _observation(self) -> dict[str, Any]:
        return {
            OBS_IMAGE_SCENE: self.scene.render("scene"),
            OBS_IMAGE_WRIST: self.scene.render("wrist"),
            OBS_STATE: self._state(),
            TASK: self.instruction,
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {"is_success": bool(success), "task_name": self.task_name, "instruction": self.instruction}
