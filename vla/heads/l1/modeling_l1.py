"""L1 regression head (OpenVLA-OFT-style): H learned action queries -> trunk -> MLP -> actions.

All H chunk steps are decoded in one parallel forward and trained with a masked L1 loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones.base import BackboneOutput

from ..base import ActionHead
from ..dit import DiT, masked_mean
from .configuration_l1 import L1RegressionHeadConfig


class L1RegressionHead(ActionHead):
    config_class = L1RegressionHeadConfig
    uses_noise = False

    def __init__(self, config: L1RegressionHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size)
        self.config: L1RegressionHeadConfig = config
        self.dit = DiT(config, cond_dim, use_timestep=False)
        self.queries = nn.Parameter(torch.randn(chunk_size, config.hidden_dim) * 0.02)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_dim, config.hidden_dim), nn.GELU(), nn.Linear(config.hidden_dim, action_dim)
        )

    def predict(self, cond: BackboneOutput) -> torch.Tensor:
        """(B, H, A) unclipped predicted actions."""
        prepared = self.dit.prepare(cond)
        batch = prepared.cognition.shape[0]
        h = self.dit(self.queries.expand(batch, -1, -1), prepared, self.dit.modulation(prepared.cognition))
        return self.mlp(h)

    def compute_loss(
        self, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        loss = masked_mean(F.l1_loss(self.predict(cond), actions, reduction="none"), valid)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, cond: BackboneOutput, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, A) predicted actions; `noise` is ignored (the head is deterministic)."""
        actions = self.predict(cond)
        return actions.clamp(-1.0, 1.0) if self.config.clip_actions else actions
