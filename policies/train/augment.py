"""Image augmentation for training batches (DrQ-style random shift + photometric jitter)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla.policy.grounding import AUX_PIXELS, AUX_SEMANTICS


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) -> same shape, each image shifted by up to `pad` pixels (replicate padding)."""
    return shift(images, pad, *shift_offsets(images.shape[0], pad, generator))


def shift_offsets(b: int, pad: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop offsets (dx, dy) in 0..2*pad per image; the content moves by (pad - dx, pad - dy) pixels."""
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    return dx, dy


def shift(images: torch.Tensor, pad: int, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) -> same shape, cropped at (dx, dy) from the replicate-padded images."""
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
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


def augment_images(
    images: dict[str, torch.Tensor],
    generator: torch.Generator,
    pad: int = 4,
    strength: float = 0.15,
    pixels: torch.Tensor | None = None,
    semantics: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Shift and jitter every camera's images. With `pixels` (B, cameras, P, 2), image points in [0, 1] per
    camera in the dict's order (grounding labels), the result also holds them moved with their images under
    AUX_PIXELS (NaN once shifted out of view); with `semantics` (B, cameras, groups, H, W) per-pixel class maps,
    it holds them shifted the same way under AUX_SEMANTICS."""
    out = {}
    moved = pixels.clone() if pixels is not None else None
    maps = []
    for i, (k, v) in enumerate(images.items()):
        dx, dy = shift_offsets(v.shape[0], pad, generator)
        out[k] = photometric(shift(v, pad, dx, dy), strength, generator)
        if semantics is not None:
            maps.append(shift(semantics[:, i].float(), pad, dx, dy).to(semantics.dtype))
        if moved is not None:
            h, w = v.shape[-2:]
            delta = torch.stack([(pad - dx) / w, (pad - dy) / h], -1).to(moved)  # (B, 2)
            moved[:, i] += delta[:, None]
    if moved is not None:
        moved[~((moved >= 0) & (moved <= 1)).all(-1)] = float("nan")
        out[AUX_PIXELS] = moved
    if semantics is not None:
        out[AUX_SEMANTICS] = torch.stack(maps, 1)
    return out


CHANNEL_ORDERS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))  # every order of RGB but the identity


def channel_permuted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) -> the same images, each with its colour channels in one of the five other orders (drawn
    from `generator`): a red cube turns green or blue, a yellow one cyan or magenta, and a blue cube red; the
    grey table stays grey. Shapes keep their shape, so a head trained on these views to name shapes cannot read
    them off colours."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"channel_permuted expects (B, 3, H, W) images, got {tuple(images.shape)}")
    orders = torch.tensor(CHANNEL_ORDERS, device=images.device)
    pick = torch.randint(len(CHANNEL_ORDERS), (images.shape[0],), generator=generator).to(images.device)
    index = orders[pick][:, :, None, None].expand_as(images)
    return images.gather(1, index)


def grounded_words() -> frozenset[str]:
    """The tabletop suite's colour and shape names: the words the scene bank's labels ground (which prop is the
    target, which the goal), so word dropout never drops them."""
    from vla.envs.manipulation.props import COLOURS
    from vla.envs.manipulation.scene import SEMANTIC_SHAPES

    return frozenset((*COLOURS, *SEMANTIC_SHAPES))


class WordDropout:
    """Instruction augmentation: a training instruction is replaced, with probability `rate`, by one of `variants`
    fixed copies of it with each word dropped with probability `p`, except the words in `keep` (never every word).

    The held-out wordings of a suite are paraphrases whose key words stand in contexts the training templates
    never put them in ("over to the left" after "to the left side"). Without the template's filler words, the
    model learns to read those key words wherever they stand. The words that name the labelled props (`keep`:
    colours, shapes) stay: a copy without its target's colour trains the locator to find a prop the
    instruction no longer names, which on the b11 checkpoint put held-out stack's target on the wrong cube in
    60% of layouts (13% with colours kept). The copies are fixed per string (seeded by the string), so the
    frozen sentence encoder's per-string cache holds them all, and the choice among them is drawn from the
    trainer's generator, so a resumed run draws the same ones."""

    def __init__(
        self, p: float, variants: int = 4, rate: float = 0.5, seed: int = 0, keep: frozenset[str] = frozenset()
    ):
        if not (0 <= p < 1 and variants >= 1 and 0 <= rate <= 1):
            raise ValueError(f"word dropout: p={p} in [0, 1), variants={variants} >= 1, rate={rate} in [0, 1]")
        self.p, self.variants, self.rate, self.seed, self.keep = p, variants, rate, seed, keep
        self._copies: dict[str, tuple[str, ...]] = {}

    def copies(self, text: str) -> tuple[str, ...]:
        """The `variants` fixed word-dropped copies of `text` (the same in every run and process)."""
        if text not in self._copies:
            import random

            words = text.split()
            out = []
            for k in range(self.variants):
                rng = random.Random(f"{self.seed}:{k}:{text}")  # str seeds hash with SHA-512: stable across runs
                kept = [w for w in words if rng.random() >= self.p or w.lower() in self.keep]
                out.append(" ".join(kept) if kept else text)
            self._copies[text] = tuple(out)
        return self._copies[text]

    def __call__(self, texts: list[str], generator: torch.Generator) -> list[str]:
        n = len(texts)
        swap = torch.rand(n, generator=generator) < self.rate
        pick = torch.randint(0, self.variants, (n,), generator=generator)
        return [self.copies(t)[int(k)] if s else t for t, s, k in zip(texts, swap.tolist(), pick.tolist(), strict=True)]
