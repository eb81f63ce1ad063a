"""L1 regression head (OpenVLA-OFT-style): H learned action queries -> trunk -> MLP -> actions.

All H chunk steps are decoded in one parallel forward and trained with a masked L1 loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla.backbones.base import BackboneOutput

from ..dit import QueryDecoderHead, masked_mean
from .configuration_l1 import L1RegressionHeadConfig


class L1RegressionHead(QueryDecoderHead):
    config_class = L1RegressionHeadConfig
    uses_noise = False

    def __init__(self, config: L1RegressionHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size, out_dim=action_dim)
        self.config: L1RegressionHeadConfig = config

    def predict(self, cond: BackboneOutput) -> torch.Tensor:
        """(B, H, A) unclipped predicted actions."""
        return self.decode(cond)

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
