"""The embedded backbone: offline and CPU-fast.

images -> FiLM conv net (shared across cameras, conditioned on the instruction) -> image tokens
instruction -> frozen all-MiniLM-L6-v2 (cached per string) -> text tokens + sentence embedding
state -> MLP -> one state token
[cognition, text, state, image] tokens -> a few transformer encoder layers -> tokens, cognition
(with instruction_tokens=False and no FiLM: [cognition, state, image], the instruction only choosing what
the grounding maps look for)
"""

from __future__ import annotations

import torch
from torch import nn

from vla.backbones.base import Backbone, BackboneOutput
from vla.errors import VlaUserError

from .configuration_embedded import EmbeddedBackboneConfig
from .text_encoder import SentenceEncoder
from .vision_encoder import FiLMConvEncoder


class EmbeddedBackbone(Backbone):
    config_class = EmbeddedBackboneConfig

    def __init__(self, config: EmbeddedBackboneConfig, camera_names: list[str], state_dim: int):
        super().__init__(config, camera_names, state_dim)
        if not self.camera_names:
            raise VlaUserError("the embedded backbone needs at least one camera")
        d = config.hidden_size
        self.hidden_size = d
        self.text = SentenceEncoder(
            config.text_model_path, config.train_text_encoder, config.max_text_tokens, config.text_cache_size
        )
        e = self.text.embed_dim
        if config.instruction_tokens:
            self.text_proj = nn.Linear(e, d)
            self.sentence_proj = nn.Linear(e, d)
        self.film_context = nn.Sequential(nn.Linear(e, d), nn.SiLU()) if config.film else None
        self.vision = FiLMConvEncoder(
            config.vision_channels,
            config.vision_blocks,
            config.vision_groups,
            config.vision_token_grid,
            d,
            d if config.film else None,
            num_keypoints=config.vision_keypoints,
            keypoint_stage=config.vision_keypoint_stage,
            num_grounding_maps=config.vision_grounding_maps,
            grounding_stage=config.vision_grounding_stage,
            semantic_classes=config.vision_semantic_classes,
        )
        if config.vision_grounding_maps:  # one learned query per map pools the words it is about
            self.grounding_queries = nn.Parameter(torch.randn(config.vision_grounding_maps, e) * e**-0.5)
            self.grounding_text = nn.Linear(e, d)
        self.camera_embed = nn.Parameter(torch.randn(len(self.camera_names), 1, d) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        if config.instruction_tokens:
            self.text_type = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.state_mlp = nn.Sequential(nn.Linear(state_dim, d), nn.SiLU(), nn.Linear(d, d)) if state_dim > 0 else None
        layer = nn.TransformerEncoderLayer(
            d,
            config.num_heads,
            dim_feedforward=int(d * config.mlp_ratio),
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.fusion = nn.TransformerEncoder(layer, config.num_fusion_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def _grounding_queries(self, word_states: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor | None:
        """(B, T, E) word states -> (B, G, D): per map, an attention-pooled phrase of the instruction."""
        if not self.config.vision_grounding_maps:
            return None
        scores = torch.einsum("bte,ge->bgt", word_states, self.grounding_queries)  # (B, G, T)
        scores = scores.masked_fill(~text_mask[:, None, :], float("-inf"))
        return self.grounding_text(scores.softmax(-1) @ word_states)  # (B, G, D)

    def _image_tokens(
        self, images: dict[str, torch.Tensor], context: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> tokens (B, C*G, D), grounding logits (B, C, maps, h, w) and class logits (B, C, classes, h, w)."""
        missing = [c for c in self.camera_names if c not in images]
        if missing:
            raise VlaUserError(f"images lack camera(s) {missing}; the backbone expects {self.camera_names}")
        views = [images[c] for c in self.camera_names]
        n_cam, b = len(views), views[0].shape[0]
        if all(v.shape == views[0].shape for v in views):  # one conv pass over every camera
            x = torch.stack(views, 1).flatten(0, 1)  # (B*C, 3, H, W), camera-minor
            ctx = context.repeat_interleave(n_cam, 0) if context is not None else None
            q = queries.repeat_interleave(n_cam, 0) if queries is not None else None
            tokens, grounding, semantics = self.vision.encode(x, ctx, q)
            tokens = tokens.unflatten(0, (b, n_cam))  # (B, C, G, D)
            grounding = grounding.unflatten(0, (b, n_cam)) if grounding is not None else None
            semantics = semantics.unflatten(0, (b, n_cam)) if semantics is not None else None
        else:
            per_camera = [self.vision.encode(v, context, queries) for v in views]
            tokens = torch.stack([t for t, _, _ in per_camera], 1)
            # Maps of cameras with other resolutions differ in size: only the same-size case is supervised.
            grounding = semantics = None
        return (tokens + self.camera_embed).flatten(1, 2), grounding, semantics  # (B, C*G, D)

    def forward(
        self,
        images: dict[str, torch.Tensor],
        instructions: list[str],
        state: torch.Tensor | None,
    ) -> BackboneOutput:
        b = self.batch_size(images, instructions)
        word_states, text_mask, sentence = self.text(list(instructions))  # (B, T, E), (B, T), (B, E)
        dtype = self.cls_token.dtype
        word_states, sentence = word_states.to(dtype), sentence.to(dtype)
        context = self.film_context(sentence) if self.film_context is not None else None

        if self.config.instruction_tokens:
            n_text = text_mask.shape[1]
            parts = [
                self.cls_token.expand(b, -1, -1) + self.sentence_proj(sentence)[:, None],  # (B, 1, D)
                self.text_proj(word_states) + self.text_type,  # (B, T, D)
            ]
        else:  # the instruction reaches the tokens only through the grounding maps' positions
            n_text = 0
            parts = [self.cls_token.expand(b, -1, -1)]
        if self.state_mlp is not None:
            if state is None:
                raise VlaUserError(f"the backbone was built for state_dim={self.state_dim} but got no state")
            parts.append(self.state_mlp(state.to(dtype))[:, None])  # (B, 1, D)
        queries = self._grounding_queries(word_states, text_mask)
        image_tokens, grounding, semantics = self._image_tokens(images, context, queries)
        parts.append(image_tokens)  # (B, C*G, D)
        x = torch.cat(parts, 1)  # (B, N, D)

        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)  # (B, N) True = valid
        if n_text:
            mask[:, 1 : 1 + n_text] = text_mask
        x = self.fusion(x, src_key_padding_mask=~mask)
        tokens = self.norm(x)
        return BackboneOutput(
            tokens=tokens, cognition=tokens[:, 0], mask=mask, grounding=grounding, semantics=semantics
        )
