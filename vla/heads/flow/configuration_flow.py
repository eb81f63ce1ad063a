"""Config of the flow-matching action head (pi0-style), sharing the DiT trunk with the diffusion head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from vla.errors import VlaUserError

from ..dit import TransformerHeadConfig

TIME_SAMPLINGS = ("beta", "uniform")


@dataclass
class FlowMatchingHeadConfig(TransformerHeadConfig):
    name: ClassVar[str] = "flow"

    num_inference_steps: int = 10
    """Euler steps integrating the velocity field from t=1 (noise) to t=0 (actions)."""
    time_sampling: Literal["beta", "uniform"] = "beta"
    """Training times: 'beta' is pi0's t = 0.001 + 0.999 * Beta(1.5, 1) (more weight on noisy times)."""
    clip_actions: bool = True
    """Clamp the sampled chunk to [-1, 1], the normalized action range."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.time_sampling not in TIME_SAMPLINGS:
            raise VlaUserError(
                f"FlowMatchingHeadConfig.time_sampling={self.time_sampling!r}: use one of {TIME_SAMPLINGS}"
            )
        if not isinstance(self.num_inference_steps, int) or self.num_inference_steps < 1:
            raise VlaUserError(f"num_inference_steps={self.num_inference_steps!r} must be a positive integer")
