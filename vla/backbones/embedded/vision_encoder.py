"""A small conv net trained from scratch, FiLM-conditioned on the instruction (as in RT-1).

Every conv is conv3x3 -> GroupNorm -> FiLM -> SiLU, so instruction-specific features appear from
the first layer on: with distractors that share the target's colour or shape, which object matters
depends on the words. A stage is one stride-2 conv followed by `blocks` residual stride-1 convs.

Besides the pooled grid tokens, the encoder can add one "keypoint" token per image (as Diffusion
Policy's spatial softmax and Levine et al.'s deep spatial autoencoders): K learned heatmaps over an
intermediate, higher-resolution feature map, each reduced to its expected image coordinates
(x, y) in [-1, 1]. Because the heatmaps sit behind FiLM, they can follow the object the
instruction names; the coordinates give the action head positions directly instead of making it
decode them from the contents of coarse grid cells.

Grounding maps go one step further: G heatmaps that training supervises directly with where the
instruction's target and goal appear in the image (`vla.policy.grounding`, from scene-bank labels).
Each is a text-image match, as in LSeg and CLIP-style dense grounding: every cell of a feature map is
embedded (one more FiLM conv, then a 1x1 conv) and scored by its dot product with a query vector that
the backbone pools from the instruction's word tokens (one query per map: "the red cube", "the blue
bowl"). A match of colour and of shape adds up, so the named object outscores a distractor that shares
only one of them. The maps' soft-argmax positions and peak probabilities join the keypoint token, so
the action head reads "the named object is here" from supervised features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet statistics: a neutral choice that keeps inputs roughly zero-mean and unit-variance.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


class FiLMConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int, context_dim: int | None):
        super().__init__()
        self.residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.norm = nn.GroupNorm(groups, out_channels)
        self.film = nn.Linear(context_dim, 2 * out_channels) if context_dim else None
        if self.film is not None:  # identity at initialisation: (1 + 0) * x + 0
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        h = self.norm(self.conv(x))  # (B, C, H / stride, W / stride)
        if self.film is not None:
            gamma, beta = self.film(context)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
            h = torch.addcmul(beta, h, 1.0 + gamma)
        h = F.silu(h)
        return x + h if self.residual else h


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) features -> (B, K, 2) expected (x, y) of K learned heatmaps, in [-1, 1]."""

    def __init__(self, in_channels: int, num_keypoints: int):
        super().__init__()
        self.heatmaps = nn.Conv2d(in_channels, num_keypoints, kernel_size=1)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        logits = self.heatmaps(x).flatten(2) / self.log_temperature.exp()  # (B, K, H*W)
        attn = logits.softmax(-1)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(h * w, 2)  # (H*W, 2) as (x, y)
        return attn @ grid  # (B, K, 2)


class FiLMConvEncoder(nn.Module):
    """(B, 3, H, W) images in [0, 1] + (B, context_dim) instruction context -> (B, tokens_per_image, out_dim)."""

    def __init__(
        self,
        channels: tuple[int, ...],
        blocks: tuple[int, ...],
        groups: int,
        token_grid: int,
        out_dim: int,
        context_dim: int | None,
        num_keypoints: int = 0,
        keypoint_stage: int = -2,
        num_grounding_maps: int = 0,
        grounding_stage: int = -2,
        semantic_classes: tuple[int, ...] = (),
    ):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        ins = (3, *channels[:-1])
        self.convs = nn.ModuleList()
        stage_ends = []  # index into self.convs of each stage's last conv
        for c_in, c_out, n in zip(ins, channels, blocks, strict=True):
            self.convs.append(FiLMConv(c_in, c_out, 2, groups, context_dim))
            self.convs.extend(FiLMConv(c_out, c_out, 1, groups, context_dim) for _ in range(n))
            stage_ends.append(len(self.convs) - 1)
        self.token_grid = token_grid
        self.proj = nn.Linear(channels[-1], out_dim)
        self.pos_embed = nn.Parameter(torch.randn(token_grid * token_grid, out_dim) * 0.02)
        self.keypoint_after = stage_ends[keypoint_stage] if num_keypoints else None
        self.grounding_after = stage_ends[grounding_stage] if num_grounding_maps else None
        self.keypoints = SpatialSoftmax(channels[keypoint_stage], num_keypoints) if num_keypoints else None
        self.num_grounding_maps = num_grounding_maps
        if num_grounding_maps:
            c_g = channels[grounding_stage]
            self.grounding = nn.ModuleDict(
                {"conv": FiLMConv(c_g, c_g, 1, groups, context_dim), "embed": nn.Conv2d(c_g, out_dim, kernel_size=1)}
            )
            self.grounding_scale = nn.Parameter(torch.tensor(out_dim**-0.5))
            # What each cell shows (e.g. colour and shape classes), trained from segmentation labels.
            self.semantics = nn.Conv2d(out_dim, sum(semantic_classes), kernel_size=1) if semantic_classes else None
        if num_keypoints or num_grounding_maps:
            n_in = 2 * num_keypoints + 3 * num_grounding_maps
            self.keypoint_proj = nn.Sequential(nn.Linear(n_in, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    @property
    def tokens_per_image(self) -> int:
        return self.token_grid * self.token_grid + bool(self.keypoints is not None or self.num_grounding_maps)

    def forward(
        self, images: torch.Tensor, context: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.encode(images, context, queries)[0]

    def encode(
        self, images: torch.Tensor, context: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> tokens (B, tokens_per_image, out_dim), grounding logits (B, G, h, w) and per-cell class logits
        (B, sum(semantic_classes), h, w); the last two are None without grounding maps / semantic classes.

        queries: (B, G, out_dim) text queries of the grounding maps (required when the encoder has maps)."""
        if self.num_grounding_maps and (
            queries is None or queries.shape[1:] != (self.num_grounding_maps, self.proj.out_features)
        ):
            raise ValueError(f"the encoder's {self.num_grounding_maps} grounding maps need queries (B, G, D)")
        x = (images - self.mean) / self.std
        point_features, grounding, semantics = [], None, None
        for i, conv in enumerate(self.convs):
            x = conv(x, context)
            if i == self.keypoint_after:
                point_features.append(self.keypoints(x).flatten(1))  # (B, 2K)
            if i == self.grounding_after:
                cells = self.grounding["embed"](self.grounding["conv"](x, context))  # (B, D, h, w)
                grounding = torch.einsum("bdhw,bgd->bghw", cells, queries) * self.grounding_scale  # (B, G, h, w)
                if self.semantics is not None:
                    semantics = self.semantics(cells)
                point_features.append(grounding_features(grounding))  # (B, 3G)
        if x.shape[-2:] != (self.token_grid, self.token_grid):
            x = F.adaptive_avg_pool2d(x, self.token_grid)
        tokens = self.proj(x.flatten(2).transpose(1, 2)) + self.pos_embed  # (B, grid*grid, out_dim)
        if point_features:
            tokens = torch.cat([tokens, self.keypoint_proj(torch.cat(point_features, 1))[:, None]], 1)
        return tokens, grounding, semantics


def cell_centres(h: int, w: int, device=None, dtype=None) -> torch.Tensor:
    """(h*w, 2) centres of a h x w grid of cells as (x, y) fractions of the image width and height."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(h * w, 2)


def soft_argmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., h, w) heatmap logits -> probabilities (..., h*w) and expected (x, y) (..., 2) in [0, 1]."""
    h, w = logits.shape[-2:]
    probs = logits.flatten(-2).softmax(-1)
    return probs, probs @ cell_centres(h, w, logits.device, logits.dtype)


def grounding_features(logits: torch.Tensor) -> torch.Tensor:
    """(B, G, h, w) logits -> (B, 3G): each map's expected (x, y) in [-1, 1] and its peak probability."""
    probs, xy = soft_argmax(logits)
    return torch.cat([(2 * xy - 1).flatten(1), probs.amax(-1)], 1)
