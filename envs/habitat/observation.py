"""Habitat sensor readings -> the navigation schema (schema.py): images, state vector, instruction."""

from __future__ import annotations

import unicodedata

import numpy as np
from gymnasium import spaces

from vla.envs.navigation.depth import encode_depth

from .episodes import NavEpisode
from .geometry import nav_state, quat_from_coeffs
from .schema import (
    INSTRUCTION_CHARSET,
    MAX_INSTRUCTION,
    MAX_RANGE,
    OBS_IMAGE_DEPTH,
    OBS_IMAGE_EGOMAP,
    OBS_IMAGE_RGB,
    OBS_STATE,
    POINTNAV_STATE_NAMES,
    STATE_NAMES,
    TASK,
)

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def state_names(goal_in_state: bool) -> tuple[str, ...]:
    return POINTNAV_STATE_NAMES if goal_in_state else STATE_NAMES


def observation_space(image_hw: tuple[int, int], goal_in_state: bool, egomap: bool = False) -> spaces.Dict:
    h, w = image_hw
    bounds = {"pointgoal.rho": (0.0, MAX_RANGE), "pointgoal.phi": (-np.pi, np.pi), "compass": (-np.pi, np.pi)}
    names = state_names(goal_in_state)
    low = np.array([bounds.get(n, (-MAX_RANGE, MAX_RANGE))[0] for n in names], np.float32)
    high = np.array([bounds.get(n, (-MAX_RANGE, MAX_RANGE))[1] for n in names], np.float32)
    return spaces.Dict(
        {
            OBS_IMAGE_RGB: spaces.Box(0, 255, (h, w, 3), np.uint8),
            OBS_IMAGE_DEPTH: spaces.Box(0, 255, (h, w, 3), np.uint8),
            **({OBS_IMAGE_EGOMAP: spaces.Box(0, 255, (h, w, 3), np.uint8)} if egomap else {}),
            OBS_STATE: spaces.Box(low, high, dtype=np.float32),
            TASK: spaces.Text(max_length=MAX_INSTRUCTION, min_length=1, charset=INSTRUCTION_CHARSET),
        }
    )


def normalize_instruction(text: str) -> str:
    """Printable ASCII, one line: accents dropped (café -> cafe), curly quotes straightened, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES)).encode("ascii", "ignore").decode("ascii")
    text = " ".join(text.split())
    return text[:MAX_INSTRUCTION] or "go"


def map_observation(
    rgb: np.ndarray,
    depth: np.ndarray,
    position: np.ndarray,
    rotation_wxyz: np.ndarray,
    episode: NavEpisode,
    goal: np.ndarray | None,
    max_depth: float,
) -> dict:
    """RGBA or RGB uint8 + depth in metres + agent pose -> observation dict.

    goal: the point goal (PointNav's first goal), or None for tasks whose state has no point goal.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    state = nav_state(position, rotation_wxyz, episode.start_position, quat_from_coeffs(episode.start_rotation), goal)
    space = observation_space(depth.shape, goal is not None)[OBS_STATE]
    return {
        OBS_IMAGE_RGB: np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., :3]),
        OBS_IMAGE_DEPTH: encode_depth(depth, max_depth),
        OBS_STATE: np.clip(state, space.low, space.high),
        TASK: normalize_instruction(episode.instruction),
    }
