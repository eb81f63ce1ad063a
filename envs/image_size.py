"""Camera image sizes as every env config accepts them: an int (square) or (height, width)."""

from __future__ import annotations

from vla.errors import VlaUserError

MIN_IMAGE, MAX_IMAGE = 16, 480  # MuJoCo's default offscreen framebuffer is 640x480


def image_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """(height, width) of an int or a pair; one line naming the value when it is neither."""
    if isinstance(image_size, int):
        return (image_size, image_size)
    if len(image_size) != 2:
        raise VlaUserError(f"image size {image_size!r} must be an int or (height, width)")
    return (int(image_size[0]), int(image_size[1]))
