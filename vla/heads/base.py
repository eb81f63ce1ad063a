"""Action-head interface: backbone output -> a chunk of H normalized actions.

Actions reaching a head are normalized to [-1, 1] per dimension (min/max statistics from the
dataset). Generative heads (diffusion, flow) accept caller-supplied initial noise and are
deterministic given it, so RL can steer the noise and eager/compiled parity can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vla.backbones.base import BackboneOutput


@dataclass
class HeadConfig:
    name: ClassVar[str] = ""
    discrete_actions_only: ClassVar[bool] = False  # True: the head classifies, so it needs action_space discrete(n)


class ActionHead(nn.Module):
    config_class: ClassVar[type[HeadConfig]]
    uses_noise: ClassVar[bool] = False  # True when sample() consumes initial noise of shape (B, H, A)

    def __init__(self, config: HeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__()
        self.config = config
        self.cond_dim = cond_dim
        self.action_dim = action_dim
        self.chunk_size = chunk_size

    def compute_loss(
        self,
        cond: BackboneOutput,
        actions: torch.Tensor,  # (B, H, A) normalized to [-1, 1]
        valid: torch.Tensor,  # (B, H) bool: False for padding past the episode end
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, cond: BackboneOutput, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, A) normalized actions. `noise` (B, H, A) makes generative heads deterministic."""
        raise NotImplementedError
