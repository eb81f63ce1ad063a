"""Action-head registry: diffusion (DiT, CogACT-style), flow matching (pi0), discrete tokens (RT-2), L1 (OFT),
categorical (cross-entropy over the classes of a discrete action space)."""

from vla.registry import Registry

from .base import ActionHead, HeadConfig

HEADS = Registry("action head")
HEADS.register("diffusion", "vla.heads.diffusion.modeling_diffusion:DiffusionHead")
HEADS.register("flow", "vla.heads.flow.modeling_flow:FlowMatchingHead")
HEADS.register("tokens", "vla.heads.tokens.modeling_tokens:DiscreteTokenHead")
HEADS.register("l1", "vla.heads.l1.modeling_l1:L1RegressionHead")
HEADS.register("categorical", "vla.heads.categorical.modeling_categorical:CategoricalHead")

__all__ = ["HEADS", "ActionHead", "HeadConfig"]
