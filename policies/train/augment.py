"""Image augmentation for training batches (DrQ-style random shift + photometric jitter)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) -> same shape, each image shifted by up to `pad` pixels (replicate padding)."""
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).to(images.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(w)[None]).to(images.device)  # (B, W)
    idx_b = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, 3)
    return out.permute(0, 3, 1, 2).contiguous()


def photometric(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    b = images.shape[0]
    brightness = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    brightness, contrast = brightness.to(images.device), contrast.to(images.device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean * brightness).clamp(0, 1)


def augment_images(images: dict[str, torch.Tensor], generator: torch.Generator, pad: int = 4, strength: float = 0.15):
    return {k: photometric(random_shift(v, pad, generator), strength, generator) for k, v in images.items()}
