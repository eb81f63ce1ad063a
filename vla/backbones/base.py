"""Backbone interface: camera images + instruction (+ state) -> prefix tokens and a pooled cognition feature.

A backbone runs once per action chunk; the action head then attends to its output for every
denoising step, so nothing here is recomputed inside a sampling loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vla.errors import VlaUserError


@dataclass
class BackboneConfig:
    """Base of every backbone config. Subclasses are dataclasses validated in __post_init__."""

    name: ClassVar[str] = ""


@dataclass
class BackboneOutput:
    tokens: torch.Tensor  # (B, N, D) prefix tokens the action head attends to
    cognition: torch.Tensor  # (B, D) pooled feature summarizing images + instruction
    mask: torch.Tensor | None = None  # (B, N) bool, True where a token is valid; None: all valid
    grounding: torch.Tensor | None = None  # (B, cameras, maps, h, w) grounding logits; None: no such maps
    semantics: torch.Tensor | None = None  # (B, cameras, classes, h, w) per-cell class logits; None: no such head


class Backbone(nn.Module):
    """Subclasses set `config_class` and `hidden_size` (D) and implement forward."""

    config_class: ClassVar[type[BackboneConfig]]
    hidden_size: int

    def __init__(self, config: BackboneConfig, camera_names: list[str], state_dim: int):
        super().__init__()
        self.config = config
        self.camera_names = list(camera_names)
        self.state_dim = state_dim

    def forward(
        self,
        images: dict[str, torch.Tensor],  # camera name -> (B, 3, H, W) float in [0, 1]
        instructions: list[str],  # B strings
        state: torch.Tensor | None,  # (B, state_dim), already normalized
    ) -> BackboneOutput:
        raise NotImplementedError

    @staticmethod
    def batch_size(images: dict[str, torch.Tensor], instructions: list[str]) -> int:
        """B, checked to be the same for the images and the instructions."""
        b = next(iter(images.values())).shape[0] if images else 0
        if len(instructions) != b:
            raise VlaUserError(f"got {len(instructions)} instructions for a batch of {b} observations")
        return b
