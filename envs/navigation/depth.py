"""Depth images as uint8 (H, W, 3) so they travel through LeRobot's video datasets.

Metric z-depth is clipped to [0, max_depth] and quantised linearly to 0..255 (max_depth 10 m:
3.9 cm per level), the same value in all three channels. A grey image keeps the chroma planes flat,
so yuv420p h264/hevc/AV1 keep the value in the full-resolution luma plane; lossy coding moves it
by a level or two (about +-5 cm at 10 m), where packing 16 bits into two colour channels would
not survive at all. Habitat's depth sensor is normalised the same way (min 0, max 10 m).
"""

from __future__ import annotations

import numpy as np


def encode_depth(depth_m: np.ndarray, max_depth: float) -> np.ndarray:
    """float (H, W) metres -> uint8 (H, W, 3)."""
    q = np.rint(np.clip(depth_m, 0.0, max_depth) * (255.0 / max_depth)).astype(np.uint8)
    return np.repeat(q[:, :, None], 3, axis=2)


def decode_depth(image: np.ndarray, max_depth: float) -> np.ndarray:
    """uint8 (H, W, 3) or (H, W) -> float32 metres (channels averaged, which also damps codec noise)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=-1)
    return img * np.float32(max_depth / 255.0)
