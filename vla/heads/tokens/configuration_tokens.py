"""Config of the discretized-action-token head (RT-2-style bins, decoded in parallel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vla.errors import VlaUserError

from ..dit import TransformerHeadConfig


@dataclass
class DiscreteTokenHeadConfig(TransformerHeadConfig):
    name: ClassVar[str] = "tokens"

    n_bins: int = 256
    """Uniform bins per action dimension over the normalized range [-1, 1] (RT-2 uses 256)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing; 0 is RT-2's plain cross-entropy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.n_bins, int) or self.n_bins < 2:
            raise VlaUserError(f"DiscreteTokenHeadConfig.n_bins={self.n_bins!r} must be an integer >= 2")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise VlaUserError(f"DiscreteTokenHeadConfig.label_smoothing={self.label_smoothing} must be in [0, 1)")
