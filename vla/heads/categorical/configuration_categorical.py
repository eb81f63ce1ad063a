"""Config of the categorical head: one class out of n per chunk step, for discrete action spaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from vla.errors import VlaUserError

from ..dit import TransformerHeadConfig

DECODINGS = ("argmax", "sample")


@dataclass
class CategoricalHeadConfig(TransformerHeadConfig):
    name: ClassVar[str] = "categorical"
    discrete_actions_only: ClassVar[bool] = True

    decoding: Literal["argmax", "sample"] = "argmax"
    """'argmax': the most likely class; 'sample': draw from softmax(logits / temperature) (Gumbel-max)."""
    temperature: float = 1.0
    """Softmax temperature for decoding='sample'."""
    top_p: float = 1.0
    """decoding='sample': draw only among the most likely classes whose probabilities sum to at least top_p
    (nucleus sampling); 1.0 keeps every class. Keeps a rare class (a STOP at 3%) from being drawn by chance."""
    class_weights: tuple[float, ...] = ()
    """Cross-entropy weight per class (length n), e.g. to up-weight a rare STOP; empty = all 1."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.decoding not in DECODINGS:
            raise VlaUserError(f"CategoricalHeadConfig.decoding={self.decoding!r}: use one of {DECODINGS}")
        if not self.temperature > 0:
            raise VlaUserError(f"CategoricalHeadConfig.temperature={self.temperature} must be > 0")
        if not 0.0 < self.top_p <= 1.0:
            raise VlaUserError(f"CategoricalHeadConfig.top_p={self.top_p} must be in (0, 1]")
        self.class_weights = tuple(float(w) for w in self.class_weights)  # JSON gives a list back
        if any(not w > 0 for w in self.class_weights):
            raise VlaUserError(f"CategoricalHeadConfig.class_weights={self.class_weights} must all be > 0")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise VlaUserError(f"CategoricalHeadConfig.label_smoothing={self.label_smoothing} must be in [0, 1)")
