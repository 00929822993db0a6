"""A model of a photo's backdrop, learned from the band along the image borders.

Catalog photos put the product in the middle of a plain, gradient (studio sweep) or textured
backdrop that fills the borders. A quadratic surface per colour channel, fitted robustly to a
border band, predicts the backdrop colour anywhere in the frame; the spread of the residuals says
how noisy or textured it is. Pixels the product covers along a border are rejected as outliers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

BackdropKind = Literal["plain", "gradient", "textured"]

NOISE_FLOOR = 2.0 / 255.0  # JPEG/sensor noise assumed even on a perfectly clean backdrop
TEXTURED_NOISE = 4.0 / 255.0  # residual spread above which the backdrop is textured
GRADIENT_RANGE = 8.0 / 255.0  # surface variation above which the backdrop is a gradient
MAX_SAMPLES = 8_000


@dataclass(frozen=True)
class BackgroundModel:
    """Quadratic backdrop surface over normalised coordinates (u, v) in [0, 1]².

    ``coefficients``: (6, 3) weights of the terms 1, u, v, u², uv, v² per channel (RGB in [0, 1]).
    ``noise``: (3,) robust standard deviation of the border residuals per channel, floored.
    """

    coefficients: np.ndarray
    noise: np.ndarray
    kind: BackdropKind

    def surface(self, height: int, width: int) -> np.ndarray:
        """The predicted backdrop, (height, width, 3) float32, at any resolution of the frame."""
        us = np.linspace(0.0, 1.0, width, dtype=np.float32)
        vs = np.linspace(0.0, 1.0, height, dtype=np.float32)
        grid_u, grid_v = np.meshgrid(us, vs)
        return self.at(grid_u, grid_v)

    def at(self, us: np.ndarray, vs: np.ndarray) -> np.ndarray:
        """The predicted backdrop colour at normalised coordinates of any shape (..., 3)."""
        terms = _terms(us.astype(np.float32), vs.astype(np.float32))
        return (terms @ self.coefficients.astype(np.float32)).astype(np.float32)


def border_band_mask(height: int, width: int, band: int) -> np.ndarray:
    """True on the ``band`` pixels along each of the four image borders."""
    mask = np.zeros((height, width), bool)
    mask[:band] = mask[-band:] = True
    mask[:, :band] = mask[:, -band:] = True
    return mask


def fit_background(rgb: np.ndarray, band: int, iterations: int = 4) -> BackgroundModel:
    """Fit the backdrop surface to the border band of ``rgb`` (H, W, 3) float32 in [0, 1].

    Robust iterated least squares: starting from the pixels near the median border colour, each
    pass drops border pixels whose residual exceeds three robust standard deviations, so a product
    touching a border does not bend the surface.
    """
    height, width = rgb.shape[:2]
    ys, xs = np.nonzero(border_band_mask(height, width, band))
    if ys.size > MAX_SAMPLES:
        keep = np.linspace(0, ys.size - 1, MAX_SAMPLES).astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    colours = rgb[ys, xs].astype(np.float64)
    terms = _terms(xs / max(width - 1, 1), ys / max(height - 1, 1)).astype(np.float64)
    inliers = _near_median(colours)
    coefficients = np.zeros((6, 3))
    noise = np.full(3, NOISE_FLOOR)
    for _ in range(iterations):
        coefficients = np.linalg.lstsq(terms[inliers], colours[inliers], rcond=None)[0]
        residuals = colours - terms @ coefficients
        noise = np.maximum(1.4826 * np.median(np.abs(residuals[inliers]), axis=0), NOISE_FLOOR)
        inliers = np.all(np.abs(residuals) <= 3.0 * noise + NOISE_FLOOR, axis=1)
        if inliers.sum() < 16:
            break
    model = BackgroundModel(coefficients=coefficients.astype(np.float32), noise=noise.astype(np.float32),
                            kind="plain")
    return BackgroundModel(coefficients=model.coefficients, noise=model.noise, kind=_classify(model))


def _near_median(colours: np.ndarray) -> np.ndarray:
    """A robust start: border pixels within three robust deviations of the median border colour, so
    a product standing on an edge is left out before the first surface is fitted."""
    offset = colours - np.median(colours, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(offset), axis=0), NOISE_FLOOR)
    near = np.all(np.abs(offset) <= 3.0 * spread + NOISE_FLOOR, axis=1)
    return near if near.sum() >= 16 else np.ones(colours.shape[0], bool)


def _classify(model: BackgroundModel) -> BackdropKind:
    if float(np.median(model.noise)) > TEXTURED_NOISE:
        return "textured"
    corners = model.surface(9, 9)
    spread = float((corners.max(axis=(0, 1)) - corners.min(axis=(0, 1))).max())
    return "gradient" if spread > GRADIENT_RANGE else "plain"


def _terms(us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(us), us, vs, us * us, us * vs, vs * vs], axis=-1)
