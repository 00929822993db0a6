"""Edge-colour decontamination: the product's own colours in its soft edge.

A partially transparent edge pixel of a photo is a mix ``I = a F + (1 - a) B`` of product colour F
and old backdrop B. Kept as is, the old backdrop shows as a halo (a white rim on a dark scene).
For each edge pixel we estimate the local product colour F^ (mean of nearby opaque pixels) and the
local backdrop colour B^ (mean of nearby transparent pixels), then apply the fast approximate
foreground estimate of Forte & Pitie (2021, "Approximate fast foreground colour estimation"):
``F = F^ + a (I - a F^ - (1 - a) B^)``, iterated at a wide and a narrow radius. It needs box filters
only, in tiles along the edge, so it stays cheap at 4 MP.

Opaque pixels (alpha 255) are never touched: the product's own pixels stay bit-exact.
"""

from __future__ import annotations

import cv2
import numpy as np

from photostage.cutout.tiles import cells_with, grow, inner


def decontaminate(rgb: np.ndarray, alpha: np.ndarray, radius: int, tile: int = 128) -> np.ndarray:
    """RGBA (H, W, 4) uint8 with straight ``alpha`` (H, W) float32 in [0, 1] and estimated foreground
    colours where 0 < alpha < 255; ``rgb`` (H, W, 3) uint8 is kept wherever alpha quantises to 255.
    Work happens in tiles that contain soft edge, so a product's opaque interior costs nothing."""
    alpha8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.dstack([rgb, alpha8])
    partial = (alpha8 > 0) & (alpha8 < 255)
    margin = 4 * radius + 4
    for cell in cells_with(partial, tile):
        window = grow(cell, margin, partial.shape)
        image = rgb[window].astype(np.float32) / 255.0
        soft = alpha8[window].astype(np.float32) / 255.0
        foreground = estimate_foreground(image, soft, radius)[inner(cell, window)]
        edge = partial[cell]
        rgba[cell][edge, :3] = np.clip(foreground[edge] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return rgba


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """Foreground colours (h, w, 3) float32 for ``image`` in [0, 1] and ``alpha`` in [0, 1]."""
    foreground = image.copy()
    background = image.copy()
    for step_radius in (4 * radius, radius):
        foreground, background = _blur_fusion_step(image, alpha, foreground, background, step_radius)
    return np.clip(foreground, 0.0, 1.0)


def _blur_fusion_step(
    image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray, background: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """One blur-fusion pass: local alpha-weighted means of F and B, then the residual correction."""
    size = (2 * max(radius, 1) + 1,) * 2
    a = alpha[..., None]
    rest = 1.0 - a
    mean_f = _weighted_mean(foreground, a, size)
    mean_b = _weighted_mean(background, rest, size)
    residual = image - a * mean_f
    residual -= rest * mean_b
    mean_f += a * residual
    mean_b += rest * residual
    return mean_f, mean_b


def _weighted_mean(values: np.ndarray, weight: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The ``weight``-weighted box mean of ``values`` (h, w, 3); ``values`` where the weights vanish.
    ``weight`` is (h, w, 1). In place on fresh arrays: this runs on every edge tile of every cut-out."""
    numerator = cv2.blur(values * weight, size, borderType=cv2.BORDER_REFLECT)
    denominator = cv2.blur(weight[..., 0], size, borderType=cv2.BORDER_REFLECT)[..., None]
    numerator /= np.maximum(denominator, 1e-4)
    np.copyto(numerator, values, where=denominator <= 1e-4)
    return numerator
