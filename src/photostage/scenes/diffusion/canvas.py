"""Pixel work around the model call: render size, masks, init image, hole filling.

All numpy/OpenCV, no torch: the model only ever sees what these functions prepare, and what it
returns is cleaned up here before the pipeline composites the original product on top.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from photostage.imaging import compose

_OPAQUE_ENOUGH = 8  # alpha above this counts as product when protecting it from the model
_FILL_SIDE = 256  # the product hole is filled at most at this resolution (it lies behind the product)


def render_size(
    width: int, height: int, native_side: int, max_side: int | None, multiple: int
) -> tuple[int, int]:
    """The size the model paints at: the canvas scaled down to the model's native area (or to
    ``max_side`` on its longest side), never up, sides rounded to ``multiple``."""
    if max_side is not None:
        scale = min(1.0, max_side / max(width, height))
    else:
        scale = min(1.0, math.sqrt(native_side * native_side / (width * height)))

    def rounded(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return rounded(width), rounded(height)


def product_hole(alpha: np.ndarray, margin: int) -> np.ndarray:
    """uint8 mask, 255 on the product (alpha above a few levels) grown by ``margin`` pixels."""
    hole = np.where(alpha > _OPAQUE_ENOUGH, np.uint8(255), np.uint8(0))
    if margin <= 0:
        return hole
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(hole, kernel)


def paint_mask(hole: np.ndarray) -> np.ndarray:
    """The inpainting mask: white (repaint) everywhere except the protected product area."""
    return cv2.bitwise_not(hole)


def init_image(backdrop_rgb: np.ndarray, product_rgba: np.ndarray) -> np.ndarray:
    """The image the model starts from: the product over the backdrop, RGB uint8."""
    return compose.composite_over(backdrop_rgb, product_rgba)


def neutral_backdrop(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """A flat colour with a gentle vertical falloff, so the model reads a floor and a wall."""
    ramp = np.linspace(1.04, 0.9, height, dtype=np.float32)[:, None, None]
    colour = np.array(rgb, np.float32)[None, None, :]
    return np.clip(np.broadcast_to(colour * ramp, (height, width, 3)) + 0.5, 0, 255).astype(np.uint8)


def fill_hole(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The scene continued under the product: the hole inpainted from its surroundings.

    The fill only shows through the product's soft edge, so it is computed at reduced
    resolution (fast even for large products) and pasted inside the hole only.
    """
    if not hole.any():
        return rgb
    if hole.all():
        return np.broadcast_to(rgb.reshape(-1, 3).mean(axis=0).astype(np.uint8), rgb.shape).copy()
    height, width = hole.shape
    scale = min(1.0, _FILL_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_rgb = cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, small_size, interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small_rgb, small_hole, 3, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    out = rgb.copy()
    inside = hole > 0
    out[inside] = filled[inside]
    return out


def upscale(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrinking = width * height < rgb.shape[0] * rgb.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(rgb, (width, height), interpolation=interpolation)
