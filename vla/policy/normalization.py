"""Normalization kept inside the model as buffers, so checkpoints carry their statistics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vla.errors import VlaUserError

EPS = 1e-6


class Normalizer(nn.Module):
    """State: mean/std. Actions: min/max to [-1, 1] (what diffusion, flow and token heads expect)."""

    def __init__(self, state_dim: int, action_dim: int):
        super().__init__()
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("action_min", -torch.ones(action_dim))
        self.register_buffer("action_max", torch.ones(action_dim))

    @torch.no_grad()
    def set_stats(self, stats: dict[str, dict[str, np.ndarray]], state_key: str, action_key: str) -> None:
        """Copy dataset statistics (LeRobot's meta/stats.json layout: key -> {mean, std, min, max})."""
        for key in (state_key, action_key):
            if key not in stats:
                raise VlaUserError(f"dataset statistics lack '{key}'; recompute the dataset's meta/stats.json")
        s, a = stats[state_key], stats[action_key]
        self.state_mean.copy_(torch.as_tensor(np.asarray(s["mean"]), dtype=torch.float32).reshape(-1))
        self.state_std.copy_(torch.as_tensor(np.asarray(s["std"]), dtype=torch.float32).reshape(-1))
        self.action_min.copy_(torch.as_tensor(np.asarray(a["min"]), dtype=torch.float32).reshape(-1))
        self.action_max.copy_(torch.as_tensor(np.asarray(a["max"]), dtype=torch.float32).reshape(-1))

    def normalize_state(self, state: torch.Tensor) -> torch.Tensor:
        return (state - self.state_mean) / (self.state_std + EPS)

    def normalize_action(self, action: torch.Tensor) -> torch.Tensor:
        span = (self.action_max - self.action_min).clamp_min(EPS)
        return 2 * (action - self.action_min) / span - 1

    def unnormalize_action(self, action: torch.Tensor) -> torch.Tensor:
        span = (self.action_max - self.action_min).clamp_min(EPS)
        return (action.clamp(-1, 1) + 1) / 2 * span + self.action_min
