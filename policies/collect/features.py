"""The LeRobotDataset feature schema of a collection, read from the env's spaces."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from vla.constants import (
    ACTION,
    NEXT_DONE,
    NEXT_REWARD,
    NEXT_SUCCESS,
    OBS_ENV_STATE,
    OBS_IMAGE_SCENE,
    OBS_IMAGE_WRIST,
    OBS_IMAGES_PREFIX,
    OBS_STATE,
)

ROBOT_TYPE = "vla_tabletop_arm"  # default for envs that do not declare a `robot_type`
CAMERA_KEYS: tuple[str, ...] = (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)  # the tabletop cameras


def robot_type(env: gym.Env) -> str:
    return str(getattr(env.unwrapped, "robot_type", ROBOT_TYPE))


def camera_keys(features: dict[str, dict]) -> tuple[str, ...]:
    """The camera streams of a feature schema (stored as video), in schema order."""
    return tuple(k for k, ft in features.items() if ft["dtype"] == "video")


def _names(env: gym.Env, key: str, attr: str, size: int, prefix: str) -> list[str]:
    """Per-dimension names from the env, falling back to generic ones when it has none that fit."""
    unwrapped = env.unwrapped
    candidates: list[Any] = []
    feature_names = getattr(unwrapped, "feature_names", None)
    if callable(feature_names):
        try:
            table = feature_names()
        except Exception:  # an optional convenience of the env; its attributes are the fallback
            table = None
        if isinstance(table, dict):
            candidates.append(table.get(key))
    candidates.append(getattr(unwrapped, attr, None))
    for names in candidates:
        if names is not None and len(names) == size and all(isinstance(n, str) for n in names):
            return list(names)
    return [f"{prefix}_{i}" for i in range(size)]


def _box_shape(space: gym.Space | None, key: str) -> tuple[int, ...]:
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"the env's {key!r} space must be a gymnasium Box, got {space!r}")
    return tuple(int(d) for d in space.shape)


def dataset_features(env: gym.Env) -> dict[str, dict]:
    """LeRobot `features` for every frame the collector writes: every `observation.images.*` camera as
    video, state, action, and the `next.*` outcome of taking the action. A Discrete action space (the
    navigation envs' STOP/FORWARD/LEFT/RIGHT) is stored as its index in a float32 (1,) action."""
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Dict):
        raise TypeError(f"the env's observation space must be a Dict, got {obs_space!r}")
    features: dict[str, dict] = {}
    cameras = [k for k in obs_space.spaces if k.startswith(OBS_IMAGES_PREFIX)]
    if not cameras:
        raise TypeError(f"the env's observation space has no {OBS_IMAGES_PREFIX}* camera")
    for key in cameras:
        shape = _box_shape(obs_space.spaces.get(key), key)
        if len(shape) != 3 or shape[2] != 3:
            raise TypeError(f"camera {key!r} must be (H, W, 3) uint8, got shape {shape}")
        features[key] = {"dtype": "video", "shape": shape, "names": ["height", "width", "channels"]}
    (state_dim,) = _box_shape(obs_space.spaces.get(OBS_STATE), OBS_STATE)
    if isinstance(env.action_space, gym.spaces.Discrete):
        action_dim = 1
    else:
        (action_dim,) = _box_shape(env.action_space, ACTION)
    features[OBS_STATE] = {
        "dtype": "float32",
        "shape": (state_dim,),
        "names": _names(env, OBS_STATE, "state_names", state_dim, "state"),
    }
    features[ACTION] = {
        "dtype": "float32",
        "shape": (action_dim,),
        "names": _names(env, ACTION, "action_names", action_dim, "action"),
    }
    privileged = getattr(env.unwrapped, "privileged_state_names", None)
    if privileged:  # simulator ground truth for auxiliary training losses (see TabletopEnv.privileged_state)
        features[OBS_ENV_STATE] = {"dtype": "float32", "shape": (len(privileged),), "names": list(privileged)}
    features[NEXT_REWARD] = {"dtype": "float32", "shape": (1,), "names": None}
    features[NEXT_DONE] = {"dtype": "bool", "shape": (1,), "names": None}
    features[NEXT_SUCCESS] = {"dtype": "bool", "shape": (1,), "names": None}
    return features


def env_fps(env: gym.Env) -> int:
    fps = env.metadata.get("render_fps")
    if not fps or float(fps) != int(fps):
        raise TypeError(f"the env must declare an integer metadata['render_fps'], got {fps!r}")
    return int(fps)


def max_episode_steps(env: gym.Env) -> int | None:
    spec = getattr(env, "spec", None)
    steps = getattr(spec, "max_episode_steps", None) if spec is not None else None
    if steps is None:
        steps = getattr(env, "_max_episode_steps", None)
    return int(steps) if steps else None


def as_float32(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.array(x, dtype=np.float32, copy=True).reshape(shape)
