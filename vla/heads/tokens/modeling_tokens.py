"""Discretized action-token head (RT-2-style): every action dimension of every chunk step is a token.

Each of the H * A values is quantized into `n_bins` uniform bins over [-1, 1]. One learned query per
(step, dimension) attends to the backbone tokens through the shared trunk and predicts that value's
bin logits; training is masked cross-entropy, decoding is argmax -> bin centre.

Decoding is parallel (all H * A tokens in one forward, as OpenVLA-OFT does), not autoregressive as
in RT-2/OpenVLA: one forward per chunk instead of H * A, which is what closed-loop control needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones.base import BackboneOutput

from ..base import ActionHead
from ..dit import DiT
from .configuration_tokens import DiscreteTokenHeadConfig


class DiscreteTokenHead(ActionHead):
    config_class = DiscreteTokenHeadConfig
    uses_noise = False

    def __init__(self, config: DiscreteTokenHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size)
        self.config: DiscreteTokenHeadConfig = config
        self.dit = DiT(config, cond_dim, use_timestep=False)
        self.queries = nn.Parameter(torch.randn(chunk_size * action_dim, config.hidden_dim) * 0.02)
        self.to_logits = nn.Linear(config.hidden_dim, config.n_bins)
        edges = torch.linspace(-1.0, 1.0, config.n_bins + 1)
        self.register_buffer("bin_centers", (edges[:-1] + edges[1:]) / 2, persistent=False)

    def discretize(self, actions: torch.Tensor) -> torch.Tensor:
        """Normalized actions -> bin indices in [0, n_bins); values outside [-1, 1] go to the end bins."""
        n = self.config.n_bins
        return ((actions + 1.0) * (n / 2)).floor().long().clamp(0, n - 1)

    def logits(self, cond: BackboneOutput) -> torch.Tensor:
        """(B, H, A, n_bins) bin logits for every action value of the chunk."""
        prepared = self.dit.prepare(cond)
        batch = prepared.cognition.shape[0]
        h = self.dit(self.queries.expand(batch, -1, -1), prepared, self.dit.modulation(prepared.cognition))
        return self.to_logits(h).view(batch, self.chunk_size, self.action_dim, self.config.n_bins)

    def compute_loss(
        self, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.logits(cond)
        target = self.discretize(actions)
        ce = F.cross_entropy(
            logits.flatten(0, 2), target.flatten(), reduction="none", label_smoothing=self.config.label_smoothing
        ).view_as(target)
        weight = valid[..., None].expand_as(target).to(ce.dtype)
        denom = weight.sum().clamp_min(1.0)
        loss = (ce * weight).sum() / denom
        accuracy = ((logits.argmax(-1) == target).to(ce.dtype) * weight).sum() / denom
        loss_value, accuracy_value = torch.stack([loss.detach(), accuracy]).tolist()
        return loss, {"loss": loss_value, "token_accuracy": accuracy_value}

    @torch.no_grad()
    def sample(self, cond: BackboneOutput, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, A) bin centres of the most likely bins; `noise` is ignored (decoding is deterministic)."""
        return self.bin_centers[self.logits(cond).argmax(-1)]
