"""Configuration of the Hugging Face VLM backbone (SmolVLM/Idefics3, PaliGemma, Qwen2-VL through transformers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from vla.backbones.base import BackboneConfig
from vla.errors import VlaUserError, did_you_mean

TINY_FAMILIES = ("smolvlm", "paligemma", "qwen2_vl")
DTYPES = ("float32", "bfloat16", "float16")
Pooling = Literal["last", "mean"]


@dataclass
class HFVLMBackboneConfig(BackboneConfig):
    name: ClassVar[str] = "hf_vlm"

    model_id: str = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
    """A Hub id (needs network or the HF cache) or a local checkpoint dir; loaded with AutoModelForImageTextToText
    and AutoProcessor. Ignored when tiny_family is set."""
    tiny_family: str | None = None
    """Build a tiny, randomly initialised model of this family offline instead: smolvlm, paligemma or qwen2_vl."""
    num_layers: int | None = None
    """Keep only the first K decoder layers of the language model (SmolVLA keeps 16 of 32); None keeps all."""
    freeze: bool = False
    """Freeze every VLM weight (LoRA adapters, if any, still train); the projection and state token always train."""
    lora_rank: int = 0
    """> 0: LoRA adapters of this rank on the language model's attention projections; only they train in the VLM."""
    lora_alpha: float | None = None
    """LoRA scaling numerator; None uses lora_rank (scale 1)."""
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Names of the language model's linear layers that get LoRA adapters."""
    dtype: str = "float32"
    """VLM weights' dtype: float32, bfloat16 or float16. Output tokens are always float32."""
    hidden_size: int | None = None
    """D: project the LM's hidden states to this width with a linear layer; None keeps the LM's width."""
    image_size: int | None = None
    """Resize camera images to this square size before the processor. Qwen2-VL's token count follows the input
    size (28 px per token); the other families resize to their vision tower's size anyway. None: as given."""
    pooling: Pooling = "last"
    """Cognition feature: the last valid token's hidden state (it attends to the whole prefix) or the mean of all."""

    def __post_init__(self) -> None:
        self.lora_target_modules = tuple(self.lora_target_modules)
        if self.tiny_family is not None and self.tiny_family not in TINY_FAMILIES:
            raise VlaUserError(
                f"hf_vlm: tiny_family={self.tiny_family!r}{did_you_mean(self.tiny_family, TINY_FAMILIES)}; "
                f"choose one of {', '.join(TINY_FAMILIES)}"
            )
        if self.tiny_family is None and not self.model_id:
            raise VlaUserError("hf_vlm: set model_id to a Hub id or a local checkpoint dir (or set tiny_family)")
        if self.num_layers is not None and self.num_layers < 1:
            raise VlaUserError(f"hf_vlm: num_layers={self.num_layers} must be >= 1 (or None to keep every layer)")
        if self.lora_rank < 0:
            raise VlaUserError(f"hf_vlm: lora_rank={self.lora_rank} must be >= 0 (0 disables LoRA)")
        if self.lora_rank and not self.lora_target_modules:
            raise VlaUserError("hf_vlm: lora_rank > 0 needs lora_target_modules, e.g. ('q_proj', 'v_proj')")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise VlaUserError(f"hf_vlm: lora_dropout={self.lora_dropout} must be in [0, 1)")
        if self.dtype not in DTYPES:
            raise VlaUserError(f"hf_vlm: dtype={self.dtype!r}{did_you_mean(self.dtype, DTYPES)}; use one of {DTYPES}")
        if self.hidden_size is not None and self.hidden_size < 1:
            raise VlaUserError(f"hf_vlm: hidden_size={self.hidden_size} must be >= 1 (or None for the LM's width)")
        if self.image_size is not None and self.image_size < 1:
            raise VlaUserError(f"hf_vlm: image_size={self.image_size} must be >= 1 (or None to keep the input size)")
        if self.pooling not in ("last", "mean"):
            raise VlaUserError(f"hf_vlm: pooling={self.pooling!r}; use 'last' or 'mean'")

    @classmethod
    def tiny(cls, family: str = "smolvlm", **overrides) -> HFVLMBackboneConfig:
        """A tiny randomly initialised model of a real VLM family, built offline (tests, CI)."""
        return cls(**{"tiny_family": family, "hidden_size": 32, **overrides})
