"""Opt-in harmonisation: let the product take the scene's light.

A studio packshot pasted into a warm, dim room looks pasted in: its white balance and exposure
are the studio's, and its edge is cut clean against a scene whose light should wrap around it.
:func:`harmonise` moves the product's layer toward the scene, by ``strength`` (0–1):

* **white balance** — the product's colours are multiplied by the scene illuminant's colour
  relative to neutral (luminance kept), so a warm scene warms the product;
* **exposure** — the product's mean brightness moves toward the brightness of the scene around
  it (bounded to ±35 %, so a white product in a dark room stays a white product);
* **light wrap** — the scene's blurred light spills a few pixels inside the product's outline,
  strongest at the edge;
* **grain** — when the scene has sensor noise, the same amount is added to the product.

This changes the product's own pixels, so it is never done unless a request asks for it
(``scene.harmonize``); the exact-pixel guarantee holds whenever it is off.
"""

from __future__ import annotations

import cv2
import numpy as np

_LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float32)
Box = tuple[int, int, int, int]


def scene_white(background: np.ndarray) -> tuple[float, float, float]:
    """The scene illuminant's colour (largest channel 1), from its bright, nearly neutral pixels."""
    pixels = background[..., :3].reshape(-1, 3).astype(np.float32)
    if len(pixels) > 200_000:
        pixels = pixels[:: len(pixels) // 200_000]
    luma = pixels @ _LUMA
    chroma = pixels.max(axis=1) - pixels.min(axis=1)
    low, high = np.percentile(luma, [60, 98])
    chosen = pixels[(luma >= low) & (luma <= high) & (chroma < 0.35 * np.maximum(luma, 1.0))]
    mean = (chosen if len(chosen) >= 50 else pixels).mean(axis=0) * 0.7 + pixels.mean(axis=0) * 0.3
    mean = mean / max(float(mean.max()), 1e-3)
    return float(mean[0]), float(mean[1]), float(mean[2])


def harmonise(
    layer: np.ndarray,
    box: Box,
    background: np.ndarray,
    strength: float,
    white: tuple[float, float, float] | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """The product ``layer`` (canvas-sized RGBA, straight alpha) moved toward ``background``'s light.

    ``white`` is the scene illuminant (from the template's analysis; measured on ``background``
    when None), ``noise`` the scene's sensor noise σ in 8-bit levels. Pixels outside the product
    (alpha 0) and the alpha channel are never changed.
    """
    strength = float(np.clip(strength, 0.0, 1.0))
    x0, y0, x1, y1 = box
    if strength <= 0.0 or x1 <= x0 or y1 <= y0:
        return layer
    out = layer.copy()
    region = out[y0:y1, x0:x1]
    alpha = region[..., 3].astype(np.float32) / np.float32(255.0)
    inside = alpha > 0
    if not inside.any():
        return layer
    colour = region[..., :3].astype(np.float32)
    scene = background[y0:y1, x0:x1, :3].astype(np.float32)

    # white balance toward the scene illuminant, luminance kept
    illuminant = np.asarray(white if white is not None else scene_white(background), np.float32)
    gains = illuminant / max(float(illuminant @ _LUMA), 1e-3)
    colour *= (gains ** np.float32(0.6 * strength))[None, None, :]

    # exposure toward the surrounding scene
    margin = max(4, round(0.15 * max(x1 - x0, y1 - y0)))
    height, width = background.shape[:2]
    around = background[max(0, y0 - margin) : min(height, y1 + margin), max(0, x0 - margin) : min(width, x1 + margin)]
    scene_luma = float((around[..., :3].reshape(-1, 3).astype(np.float32) @ _LUMA).mean())
    product_luma = float((colour[inside] @ _LUMA).mean())
    ratio = np.clip(scene_luma / max(product_luma, 1.0), 0.4, 2.5)
    colour *= np.float32(np.clip(ratio ** (0.35 * strength), 0.65, 1.35))

    # light wrap: the scene's light spilling inside the outline, strongest at the edge
    radius = max(2.0, 0.012 * max(x1 - x0, y1 - y0))
    solid = cv2.copyMakeBorder((alpha >= 0.5).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 3)[1:-1, 1:-1]  # the box's border is outside
    wrap = np.exp(-depth / np.float32(radius)) * np.float32(0.45 * strength) * inside
    glow = cv2.GaussianBlur(scene, (0, 0), radius * 1.5)
    colour += (glow - colour) * wrap[..., None]

    # the scene's grain
    if noise > 0.3:
        rng = np.random.default_rng(seed)
        colour += rng.normal(0.0, noise * strength, colour.shape).astype(np.float32)

    shaded = np.clip(colour + np.float32(0.5), 0, 255).astype(np.uint8)
    region[..., :3] = np.where(inside[..., None], shaded, region[..., :3])
    return out
