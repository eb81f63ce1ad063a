"""Config of the L1 regression head (OpenVLA-OFT-style parallel decoding of the chunk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..dit import TransformerHeadConfig


@dataclass
class L1RegressionHeadConfig(TransformerHeadConfig):
    name: ClassVar[str] = "l1"

    clip_actions: bool = True
    """Clamp predicted actions to [-1, 1], the normalized action range."""

    @classmethod
    def tiny(cls) -> L1RegressionHeadConfig:
        """A few-thousand-parameter variant for tests."""
        return cls(hidden_dim=64, num_layers=2, num_heads=4, mlp_ratio=2.0)
