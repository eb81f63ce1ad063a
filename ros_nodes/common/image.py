"""sensor_msgs/Image <-> numpy (uint8 HxWx3 rgb), with the checks a robot's camera driver needs.

No cv_bridge (not in the PyPI wheels). Decoding validates encoding, step and data length, and raises
ImageError with a reason a throttled log line can print, so garbage never reaches the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SUPPORTED_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class ImageError(ValueError):
    """A sensor_msgs/Image that cannot be decoded; the message says why."""


def image_to_numpy(msg: Any) -> np.ndarray:
    """A sensor_msgs/Image -> uint8 (H, W, 3) RGB array (a copy; the message buffer may be reused).

    rgb8 is the contract; bgr8/rgba8/bgra8/mono8 are converted because common drivers publish them.
    """
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise ImageError(f"unsupported encoding '{msg.encoding}' (use one of {', '.join(SUPPORTED_ENCODINGS)})")
    h, w, c = int(msg.height), int(msg.width), _CHANNELS[enc]
    if h <= 0 or w <= 0:
        raise ImageError(f"empty image {w}x{h}")
    step = int(msg.step)
    if step < w * c:
        raise ImageError(f"step {step} is smaller than width*channels = {w * c}")
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else np.asarray(data, np.uint8)
    if buf.size != step * h:
        raise ImageError(f"data has {buf.size} bytes, expected step*height = {step}*{h} = {step * h}")
    img = buf.reshape(h, step)[:, : w * c].reshape(h, w, c)
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    if enc.startswith("bgr"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


def numpy_to_image(img: np.ndarray, stamp: Any = None, frame_id: str = "") -> Any:
    """uint8 (H, W, 3) RGB -> sensor_msgs/Image rgb8 (imports sensor_msgs, i.e. needs the `ros` extra)."""
    from sensor_msgs.msg import Image

    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) RGB array, got shape {img.shape}")
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = int(img.shape[1] * 3)
    msg.data = img.tobytes()
    return msg
