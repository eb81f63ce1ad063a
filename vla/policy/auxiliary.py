"""Auxiliary prediction of privileged simulator state from the backbone (training only).

Simulated demonstrations can carry ground truth that a robot never sees, such as where the object
named in the instruction is (LeRobot's `observation.environment_state`). Regressing it from the
backbone's cognition feature gives the vision encoder a dense, direct signal for grounding the
instruction in the image, which the action loss alone provides slowly. The head is ignored at
inference, so the policy's inputs stay images + instruction + proprioception.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-6


class PrivilegedStateHead(nn.Module):
    def __init__(self, hidden_size: int, env_state_dim: int, mlp: nn.Module | None = None):
        """`mlp`: another network from the input features to the env state (default: one hidden layer)."""
        super().__init__()
        self.mlp = mlp or nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, env_state_dim)
        )
        self.register_buffer("mean", torch.zeros(env_state_dim))
        self.register_buffer("std", torch.ones(env_state_dim))

    @torch.no_grad()
    def set_stats(self, stats: dict[str, np.ndarray]) -> None:
        self.mean.copy_(torch.as_tensor(np.asarray(stats["mean"]), dtype=torch.float32).reshape(-1))
        self.std.copy_(torch.as_tensor(np.asarray(stats["std"]), dtype=torch.float32).reshape(-1))

    def predict_normalized(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, env_state_dim) in normalized units (dataset mean 0, std 1)."""
        return self.mlp(features)

    def normalize(self, env_state: torch.Tensor) -> torch.Tensor:
        """(B, env_state_dim) dataset units -> normalized units."""
        return (env_state - self.mean) / (self.std + EPS)

    def unnormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * (self.std + EPS) + self.mean

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, env_state_dim) in dataset units."""
        return self.unnormalize(self.mlp(features))

    def loss(self, cognition: torch.Tensor, env_state: torch.Tensor) -> torch.Tensor:
        target = self.normalize(env_state.to(cognition.dtype))
        return F.mse_loss(self.mlp(cognition), target)
