"""Condition the action head on the policy's own estimate of where the task's objects are.

The auxiliary head (`auxiliary.PrivilegedStateHead`) learns to estimate the privileged environment state
(the named target's and goal's positions) from what the policy sees. A policy whose backbone knows where
the object is can still place the gripper centimetres away from it, because the action head has to
decode "how far, which way" from image tokens with a few thousand gradient steps. This module hands the
head the estimate itself and, where the state holds the gripper position, the estimated offset from
gripper to object, so reaching becomes a function of one explicit vector (as a scripted expert's is).

The estimate comes in detached: only the auxiliary loss trains it, so the action loss cannot turn it
into an uncalibrated feature. It is computed from images + instruction + state alone, so nothing
privileged is an inference input.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from vla.backbones.base import BackboneOutput

RELATIVE_SCALE = 0.1
"""Metres per unit of the relative features: offsets of a tabletop (+-0.5 m) land in +-5."""


class EnvStateConditioning(nn.Module):
    """Estimate (B, E) + raw state (B, S) -> BackboneOutput with the estimate added to the cognition feature
    and appended as one more token."""

    def __init__(self, env_state_dim: int, relative_to: tuple[int, ...], hidden_size: int):
        super().__init__()
        pairs = [(i, j) for i, j in enumerate(relative_to) if j >= 0]
        self.register_buffer("env_index", torch.tensor([i for i, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("state_index", torch.tensor([j for _, j in pairs], dtype=torch.long), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(env_state_dim + len(pairs), hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def features(self, normalized: torch.Tensor, metres: torch.Tensor, raw_state: torch.Tensor) -> torch.Tensor:
        """(B, E + R): the normalized estimate and each estimated position minus its state entry (0.1 m units)."""
        relative = (metres[:, self.env_index] - raw_state[:, self.state_index].to(metres.dtype)) / RELATIVE_SCALE
        return torch.cat([normalized, relative], 1)

    def forward(
        self, cond: BackboneOutput, normalized: torch.Tensor, metres: torch.Tensor, raw_state: torch.Tensor
    ) -> BackboneOutput:
        e = self.mlp(self.features(normalized, metres, raw_state).to(cond.cognition.dtype))  # (B, D)
        mask = cond.mask
        if mask is not None:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        return dataclasses.replace(
            cond, tokens=torch.cat([cond.tokens, e[:, None]], 1), cognition=cond.cognition + e, mask=mask
        )
