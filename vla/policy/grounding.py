"""Dense grounding loss: supervise the backbone's grounding heatmaps with where the instruction's target
and goal appear in each camera image (training only).

The labels come from the simulator (a scene bank projects the privileged target and goal positions
through each camera). Each heatmap is a softmax over the cells of its feature map; its label is a
Gaussian over the same cells centred on the projected point, and the loss is their KL divergence
(0 when the heatmap matches the label). Points behind a camera or outside its view carry no loss.
Compared with regressing one xyz per scene from a pooled feature, every cell of every image gets a
signal, which is what teaches a from-scratch encoder "which object is the purple sphere" quickly.

The same cells also learn what they show, independently of any instruction: a linear head on the cell
embeddings predicts each cell's colour and shape classes (soft labels: the fraction of the cell's pixels
of each class, from the simulator's segmentation). Every prop in view then teaches the features colours
and shapes, and the instruction query only has to learn which ones it names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla.backbones.embedded.vision_encoder import cell_centres, soft_argmax

AUX_PIXELS = "aux_pixels"  # (B, cameras, points, 2) image (x, y) in [0, 1] of the labelled points, NaN unseen
AUX_SEMANTICS = "aux_semantics"  # (B, cameras, groups, H, W) uint8 class per pixel (e.g. colour, shape; 0 = none)
AUX_COLOURS = "aux_point_colours"  # (B, points) uint8 colour class of the prop each env-state point is on (0 = none)
AUX_SHAPES = "aux_point_shapes"  # (B, points) uint8 shape class of the prop each env-state point is on (0 = none)
AUX_SHAPE_VIEW = "aux_shape_view"  # (B, 3, H, W) the locator camera's images, colour channels permuted (shape loss)
LABEL_SIGMA_CELLS = 0.6  # std of the Gaussian label, in feature-map cells (about one object at 96 px)


def grounding_labels(
    pixels: torch.Tensor, h: int, w: int, sigma_cells: float = LABEL_SIGMA_CELLS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 2) points in [0, 1] -> (..., h*w) label distributions over the cells, and (...) valid mask."""
    valid = torch.isfinite(pixels).all(-1)
    centres = cell_centres(h, w, pixels.device, pixels.dtype)  # (h*w, 2)
    cells = torch.nan_to_num(pixels, nan=0.5)[..., None, :] * pixels.new_tensor([w, h])  # (..., 1, 2) in cells
    d2 = ((cells - centres * pixels.new_tensor([w, h])) ** 2).sum(-1)  # (..., h*w)
    return (-d2 / (2 * sigma_cells**2)).softmax(-1), valid


def grounding_loss(logits: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """KL(label || heatmap) averaged over visible points.

    logits: (B, C, G, h, w) from the backbone; pixels: (B, C, P, 2) with P >= G (map g learns point g).
    Returns 0 (with a gradient path) when no point is visible.
    """
    b, c, g, h, w = logits.shape
    if pixels.shape[:2] != (b, c) or pixels.shape[2] < g:
        raise ValueError(f"grounding labels of shape {tuple(pixels.shape)} do not fit heatmaps {tuple(logits.shape)}")
    labels, valid = grounding_labels(pixels[:, :, :g].to(logits.dtype), h, w)
    log_p = logits.flatten(3).log_softmax(-1)  # (B, C, G, h*w)
    kl = (labels * (labels.clamp_min(1e-12).log() - log_p)).sum(-1)  # (B, C, G)
    n = valid.sum()
    return (kl * valid).sum() / n.clamp_min(1) if bool(n) else logits.sum() * 0.0


@torch.no_grad()
def grounding_error(logits: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Mean distance, as a fraction of the image side, between each heatmap's soft-argmax and its label;
    (G,) per map over visible points (NaN for a map that saw none)."""
    g = logits.shape[2]
    _, xy = soft_argmax(logits)  # (B, C, G, 2)
    target = pixels[:, :, :g].to(logits.dtype)
    dist = (xy - target).norm(dim=-1)  # (B, C, G), NaN where unseen
    valid = torch.isfinite(dist)
    return torch.where(valid, dist, 0).sum((0, 1)) / valid.sum((0, 1))


def semantic_loss(logits: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """Soft cross-entropy of per-cell class predictions.

    logits: (B, C, sum(classes), h, w) from the backbone; labels: (B, C, len(classes), H, W) integer classes per
    pixel at image resolution (H, W multiples of h, w). Each cell's label is the fraction of its pixels of each
    class; the loss is the mean over cells and groups."""
    b, c, _, h, w = logits.shape
    if labels.shape[:3] != (b, c, len(classes)):
        raise ValueError(f"semantic labels of shape {tuple(labels.shape)} do not fit logits {tuple(logits.shape)}")
    total, start = logits.new_zeros(()), 0
    for k, n in enumerate(classes):
        one_hot = F.one_hot(labels[:, :, k].long().flatten(0, 1), n).permute(0, 3, 1, 2).to(logits.dtype)
        target = F.adaptive_avg_pool2d(one_hot, (h, w))  # (B*C, n, h, w) class fractions per cell
        log_p = logits[:, :, start : start + n].flatten(0, 1).log_softmax(1)
        total = total + -(target * log_p).sum(1).mean()
        start += n
    return total / len(classes)
