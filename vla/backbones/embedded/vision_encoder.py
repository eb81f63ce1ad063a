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
        if num_keypoints:
            self.keypoints = SpatialSoftmax(channels[keypoint_stage], num_keypoints)
            self.keypoint_proj = nn.Sequential(
                nn.Linear(2 * num_keypoints, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim)
            )

    @property
    def tokens_per_image(self) -> int:
        return self.token_grid * self.token_grid + (self.keypoint_after is not None)

    def forward(self, images: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = (images - self.mean) / self.std
        keypoints = None
        for i, conv in enumerate(self.convs):
            x = conv(x, context)
            if i == self.keypoint_after:
                keypoints = self.keypoints(x)  # (B, K, 2)
        if x.shape[-2:] != (self.token_grid, self.token_grid):
            x = F.adaptive_avg_pool2d(x, self.token_grid)
        tokens = self.proj(x.flatten(2).transpose(1, 2)) + self.pos_embed  # (B, grid*grid, out_dim)
        if keypoints is not None:
            tokens = torch.cat([tokens, self.keypoint_proj(keypoints.flatten(1))[:, None]], 1)
        return tokens
