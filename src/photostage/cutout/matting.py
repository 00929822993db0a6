"""Soft edges at full size: a narrow trimap band around an upscaled coarse mask, then matting.

The coarse mask comes from a working size of at most 512 px, so its upscaled boundary is only
accurate to about one working pixel. The band of that width around it is *unknown*; everything
inside is product (alpha 1), everything outside backdrop (alpha 0). Only the band is matted:

* ``closed_form`` (preferred): Levin-Lischinski-Weiss closed-form matting from pymatting
  (``estimate_alpha_cf``), solved tile by tile over the band only, so a 4 MP photo costs what its
  silhouette costs rather than what its area costs (pymatting builds a dense-per-pixel Laplacian
  that would need gigabytes for a whole 4 MP frame).
* ``guided`` (fallback when pymatting is not installed; OpenCV and numpy only): each band pixel is
  unmixed between the local product and backdrop colours (means of nearby sure pixels), then a
  colour guided filter (He et al.) aligns that with the image edges. It is good on plain edges but
  smoother than closed-form matting on hair-fine detail.

pymatting compiles its kernels with numba on first use (about 35 s; cached on disk when the
package directory or ``NUMBA_CACHE_DIR`` is writable). :func:`warm_up` does that compile up front,
e.g. when a server starts or once per test session.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from photostage.cutout.tiles import cells_with, grow, inner

MattingMethod = Literal["closed_form", "guided"]
TILE_MARGIN = 8  # context around each closed-form tile, so tile seams do not show
PROJECTION_MIN_CONTRAST = 0.08  # product and backdrop colours closer than this cannot be unmixed


def pymatting_available() -> bool:
    return importlib.util.find_spec("pymatting") is not None


def resolve_method(requested: Literal["auto", "closed_form", "guided"]) -> MattingMethod:
    """``auto`` is closed-form when pymatting is importable and the guided filter otherwise."""
    if requested == "auto":
        return "closed_form" if pymatting_available() else "guided"
    if requested == "closed_form" and not pymatting_available():
        raise ValueError("closed-form matting needs pymatting (pip install 'photostage[matting]')")
    return requested


def warm_up() -> None:
    """Compile (or load from the numba cache) pymatting's kernels with a tiny solve; no-op without it."""
    if not pymatting_available():
        return
    image = np.zeros((12, 12, 3), np.float64)
    image[:, 6:] = 1.0
    trimap = np.full((12, 12), 0.5)
    trimap[:, :3], trimap[:, 9:] = 0.0, 1.0
    _closed_form_tile(image, trimap)


@dataclass(frozen=True)
class Trimap:
    """Full-size trimap: ``foreground`` is sure product; ``unknown`` the band to matte."""

    foreground: np.ndarray
    unknown: np.ndarray
    coarse: np.ndarray  # the upscaled coarse mask the band was drawn around

    def settle_background(self, background: np.ndarray) -> Trimap:
        """The same trimap with ``background`` pixels taken out of the unknown band (known alpha 0):
        backdrop seen through a narrow hole must anchor the matte, or matting fills the hole."""
        return Trimap(foreground=self.foreground & ~background, unknown=self.unknown & ~background,
                      coarse=self.coarse)

    def box(self, margin: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the unknown band grown by ``margin``, clamped to the frame."""
        ys = np.flatnonzero(self.unknown.any(axis=1))
        xs = np.flatnonzero(self.unknown.any(axis=0))
        height, width = self.unknown.shape
        if ys.size == 0:
            return (0, 0, 0, 0)
        return (max(int(xs[0]) - margin, 0), max(int(ys[0]) - margin, 0),
                min(int(xs[-1]) + margin + 1, width), min(int(ys[-1]) + margin + 1, height))


def band_radius(full_size: tuple[int, int], work_size: tuple[int, int]) -> int:
    """Half-width of the unknown band: one working pixel in full-size pixels, plus one."""
    scale = max(full_size[0] / work_size[0], full_size[1] / work_size[1])
    return int(math.ceil(scale)) + 1


def build_trimap(coarse: np.ndarray, full_size: tuple[int, int], radius: int) -> Trimap:
    """Upscale the working-size ``coarse`` bool mask to ``full_size`` (width, height) and mark a band
    of ``radius`` pixels each side of its boundary unknown."""
    width, height = full_size
    upscaled = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    mask = upscaled.astype(np.uint8)
    grown = cv2.dilate(mask, kernel) > 0
    shrunk = cv2.erode(mask, kernel, borderType=cv2.BORDER_REPLICATE) > 0
    return Trimap(foreground=shrunk, unknown=grown & ~shrunk, coarse=upscaled)


def matte(rgb: np.ndarray, trimap: Trimap, method: MattingMethod, radius: int, tile: int = 160) -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] for ``rgb`` (H, W, 3) uint8; only the unknown band is solved."""
    alpha = trimap.foreground.astype(np.float32)
    if not trimap.unknown.any():
        return alpha
    if method == "closed_form":
        _matte_closed_form(rgb, trimap, alpha, tile)
    else:
        _matte_guided(rgb, trimap, alpha, radius)
    return alpha


def _matte_closed_form(rgb: np.ndarray, trimap: Trimap, alpha: np.ndarray, tile: int) -> None:
    """Solve closed-form matting per tile of the unknown band, each with a margin of context."""
    for cell in cells_with(trimap.unknown, tile):
        window = grow(cell, TILE_MARGIN, alpha.shape)
        values = np.where(trimap.unknown[window], 0.5, trimap.foreground[window].astype(np.float64))
        solved = _closed_form_tile(rgb[window].astype(np.float64) / 255.0, values)[inner(cell, window)]
        unknown = trimap.unknown[cell]
        alpha[cell][unknown] = solved[unknown]


def _closed_form_tile(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    from pymatting import estimate_alpha_cf

    if not (trimap == 0.5).any():
        return trimap
    return estimate_alpha_cf(image, trimap, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 2000})


def _matte_guided(rgb: np.ndarray, trimap: Trimap, alpha: np.ndarray, radius: int) -> None:
    """Fallback matte: project each band pixel onto the line between the local product colour and
    the local backdrop colour (means of the nearby sure pixels), where those differ enough; keep
    the upscaled mask elsewhere; then a colour guided filter aligns the result with image edges."""
    x0, y0, x1, y1 = trimap.box(4 * radius + 4)
    window = (slice(y0, y1), slice(x0, x1))
    guide = rgb[window].astype(np.float32) / 255.0
    foreground = trimap.foreground[window]
    background = ~(trimap.foreground[window] | trimap.unknown[window])
    size = (4 * radius + 1, 4 * radius + 1)
    local_f, weight_f = _local_mean(guide, foreground, size)
    local_b, weight_b = _local_mean(guide, background, size)
    axis = local_f - local_b
    length2 = np.sum(axis * axis, axis=2)
    projected = np.sum((guide - local_b) * axis, axis=2) / np.maximum(length2, 1e-6)
    usable = (weight_f > 0.02) & (weight_b > 0.02) & (length2 > PROJECTION_MIN_CONTRAST**2)
    source = np.where(usable, np.clip(projected, 0.0, 1.0), trimap.coarse[window].astype(np.float32))
    filtered = guided_filter(guide, source.astype(np.float32), radius=1, eps=1e-3)
    unknown = trimap.unknown[window]
    alpha[window][unknown] = np.clip(filtered[unknown], 0.0, 1.0)


def _local_mean(image: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour of the ``mask`` pixels around each pixel, and the share of the window they fill."""
    weight = cv2.blur(mask.astype(np.float32), size, borderType=cv2.BORDER_REFLECT)
    total = cv2.blur(image * mask[..., None], size, borderType=cv2.BORDER_REFLECT)
    return total / np.maximum(weight, 1e-6)[..., None], weight


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Colour guided filter (He, Sun, Tang 2010): ``source`` (h, w) float32 smoothed so that its edges
    follow the edges of ``guide`` (h, w, 3) float32 in [0, 1]. O(pixels), box filters only."""
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_guide = mean(guide)
    mean_source = mean(source)
    covariance_gs = mean(guide * source[..., None]) - mean_guide * mean_source[..., None]
    products = {}
    for i in range(3):
        for j in range(i, 3):
            products[i, j] = mean(guide[..., i] * guide[..., j]) - mean_guide[..., i] * mean_guide[..., j]
    sigma = np.empty(source.shape + (3, 3), np.float32)
    for (i, j), value in products.items():
        sigma[..., i, j] = sigma[..., j, i] = value
    sigma += eps * np.eye(3, dtype=np.float32)
    coefficients = np.linalg.solve(sigma, covariance_gs[..., None])[..., 0]
    offset = mean_source - np.einsum("hwc,hwc->hw", coefficients, mean_guide)
    return np.einsum("hwc,hwc->hw", mean(coefficients), guide) + mean(offset)
