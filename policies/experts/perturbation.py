"""Execution noise for demonstrations (DART, Laskey et al. 2017): with probability p a step executes a
random action, while the recorded action stays the expert's label for the state it was in.

Clean shortest-path demonstrations never leave the path, so a cloned policy that drifts (or bumps a
wall) has never seen how to get back. Perturbed rollouts visit those states, and the expert, asked
again at every step, labels the way back. Only navigation tasks take it: a random navigation action is
one step of 0.25 m or 30 degrees, always recoverable; a random tabletop action can knock objects over.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from vla.envs.navigation.nav_env import MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT

MOVES = np.array([MOVE_FORWARD, TURN_LEFT, TURN_RIGHT])


class ExecutionNoise:
    """Replace the executed action by a random one with probability `probability` (never at a STOP).

    Discrete actions: a random MOVE_FORWARD / TURN_LEFT / TURN_RIGHT (a random STOP would end the
    episode). Velocity actions: a uniform draw from the action space, unless the label stops.
    Reseeded per episode, so a collection stays a pure function of its seeds."""

    def __init__(self, action_space: spaces.Space, probability: float):
        if not 0.0 <= probability < 1.0:
            raise ValueError(f"execution noise probability must be in [0, 1), got {probability}")
        self.action_space = action_space
        self.probability = probability
        self.rng = np.random.default_rng(0)
        self.perturbed = 0

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 0xDA27])
        self.perturbed = 0

    def __call__(self, label: np.ndarray) -> np.ndarray:
        """The action to execute for the expert's `label` (same dtype and shape)."""
        if self.probability == 0.0 or self._is_stop(label) or self.rng.random() >= self.probability:
            return label
        self.perturbed += 1
        if isinstance(self.action_space, spaces.Discrete):
            return np.full_like(label, self.rng.choice(MOVES))
        low, high = self.action_space.low, self.action_space.high
        return self.rng.uniform(low, high).astype(label.dtype).reshape(label.shape)

    def _is_stop(self, label: np.ndarray) -> bool:
        if isinstance(self.action_space, spaces.Discrete):
            return int(np.asarray(label).reshape(-1)[0]) == STOP
        return not np.any(label)
