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
