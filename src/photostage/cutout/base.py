"""The cut-out engine protocol and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Cutout:
    """The product separated from its background, in the input's own frame.

    ``rgba``: (H, W, 4) uint8, straight alpha; colours in the soft edge are decontaminated
    (estimated foreground colours) so no halo of the old background shows on a new one.
    ``box``: (x0, y0, x1, y1), exclusive ends, the bounding box of alpha > 0.
    """

    rgba: np.ndarray
    box: tuple[int, int, int, int]
    engine: str


class CutoutEngine(Protocol):
    name: str

    def available(self) -> bool:
        ...

    def extract(self, rgba: np.ndarray) -> Cutout:
        """Cut the product out of an (H, W, 4) uint8 RGBA image (alpha 255 if the input was opaque)."""
        ...


def alpha_box(alpha: np.ndarray, threshold: int = 0) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of ``alpha > threshold``; the whole frame if empty."""
    ys = np.flatnonzero((alpha > threshold).any(axis=1))
    xs = np.flatnonzero((alpha > threshold).any(axis=0))
    if ys.size == 0 or xs.size == 0:
        return (0, 0, 0, 0)
    return (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
