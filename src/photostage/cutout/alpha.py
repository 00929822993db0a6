"""The cut-out engine for inputs that are already transparent (a PNG/WebP/AVIF with alpha).

Nothing is segmented: the input's own alpha is the matte. Optionally its soft edge is defringed:
exporters that wrote straight alpha over a white or black canvas leave that canvas colour in the
edge pixels, which shows as a rim on a new scene. Defringing pulls each partially transparent
pixel towards the colour of the nearby opaque product, the more the more transparent it is
(``colour = a I + (1 - a) F^``, F^ the local mean of opaque neighbours). It never invents a
backdrop colour, so it is safe on inputs whose edges are already clean.
"""

from __future__ import annotations

import cv2
import numpy as np

from photostage.cutout.base import Cutout, alpha_box

OPAQUE = 250  # alpha at or above which a pixel's colour is trusted as product colour


class AlphaEngine:
    name = "alpha"

    def __init__(self, defringe: bool = True, radius: int = 3) -> None:
        self.defringe = defringe
        self.radius = radius

    def available(self) -> bool:
        return True

    def extract(self, rgba: np.ndarray) -> Cutout:
        alpha = rgba[..., 3]
        result = defringe(rgba, self.radius) if self.defringe else rgba.copy()
        return Cutout(rgba=result, box=alpha_box(alpha), engine=self.name)


def defringe(rgba: np.ndarray, radius: int) -> np.ndarray:
    """Blend partially transparent pixels towards their opaque neighbours' colour (see module doc)."""
    result = rgba.copy()
    alpha = rgba[..., 3]
    partial = (alpha > 0) & (alpha < 255)
    if not partial.any():
        return result
    ys, xs = np.nonzero(partial)
    margin = 4 * radius + 2
    height, width = alpha.shape
    window = (slice(max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, height)),
              slice(max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, width)))
    colour = rgba[window][..., :3].astype(np.float32)
    opaque = (alpha[window] >= OPAQUE).astype(np.float32)
    nearby = _opaque_mean(colour, opaque, radius)
    weight = (alpha[window].astype(np.float32) / 255.0)[..., None]
    blended = np.where(np.isnan(nearby), colour, weight * colour + (1.0 - weight) * np.nan_to_num(nearby))
    edge = partial[window]
    result[window][edge, :3] = np.clip(blended[edge] + 0.5, 0, 255).astype(np.uint8)
    return result


def _opaque_mean(colour: np.ndarray, opaque: np.ndarray, radius: int) -> np.ndarray:
    """Mean colour of opaque pixels around each pixel, widening the window where none are near;
    NaN where there is no opaque pixel even in the widest window."""
    mean = np.full(colour.shape, np.nan, np.float32)
    for size in (2 * radius + 1, 4 * radius + 1, 8 * radius + 1):
        weight = cv2.blur(opaque, (size, size), borderType=cv2.BORDER_REFLECT)
        total = cv2.blur(colour * opaque[..., None], (size, size), borderType=cv2.BORDER_REFLECT)
        fill = np.isnan(mean[..., 0]) & (weight > 1e-3)
        mean[fill] = total[fill] / weight[fill][:, None]
    return mean
