"""Soft edges at full size: a narrow trimap band around an upscaled coarse mask, then matting.

The coarse mask comes from a working size of at most 512 px, so its upscaled boundary is only
accurate to about one working pixel. The band of that width around it is *unknown*; everything
inside is product (alpha 1), everything outside backdrop (alpha 0). Only the band is matted:

* ``closed_form`` (preferred): Levin-Lischinski-Weiss closed-form matting from pymatting
  (``estimate_alpha_cf``), solved tile by tile over the band only, so a 4 MP photo costs what its
  silhouette costs rather than what its area costs (pymatting builds a dense-per-pixel Laplacian
  that would need gigabytes for a whole 4 MP frame).
* ``guided`` (fallback when pymatting is not installed): a colour guided filter (He et al.) of the
  upscaled mask with the photo as guide, again limited to the band. It follows colour edges well
  but is smoother than closed-form matting on hair-fine detail.

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

MattingMethod = Literal["closed_form", "guided"]


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
    """Solve closed-form matting in overlapping tiles that contain part of the unknown band."""
    margin = 8
    x0, y0, x1, y1 = trimap.box(0)
    height, width = alpha.shape
    for top in range(y0, y1, tile):
        for left in range(x0, x1, tile):
            core = (slice(top, min(top + tile, y1)), slice(left, min(left + tile, x1)))
            if not trimap.unknown[core].any():
                continue
            outer = (slice(max(top - margin, 0), min(top + tile + margin, height)),
                     slice(max(left - margin, 0), min(left + tile + margin, width)))
            values = np.where(trimap.unknown[outer], 0.5, trimap.foreground[outer].astype(np.float64))
            solved = _closed_form_tile(rgb[outer].astype(np.float64) / 255.0, values)
            inner = (slice(core[0].start - outer[0].start, core[0].stop - outer[0].start),
                     slice(core[1].start - outer[1].start, core[1].stop - outer[1].start))
            unknown = trimap.unknown[core]
            alpha[core][unknown] = solved[inner][unknown]


def _closed_form_tile(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    from pymatting import estimate_alpha_cf

    if not (trimap == 0.5).any():
        return trimap
    return estimate_alpha_cf(image, trimap, laplacian_kwargs={"epsilon": 1e-6}, cg_kwargs={"maxiter": 2000})


def _matte_guided(rgb: np.ndarray, trimap: Trimap, alpha: np.ndarray, radius: int) -> None:
    x0, y0, x1, y1 = trimap.box(2 * radius + 2)
    window = (slice(y0, y1), slice(x0, x1))
    guide = rgb[window].astype(np.float32) / 255.0
    coarse = trimap.coarse[window].astype(np.float32)
    coarse = cv2.GaussianBlur(coarse, (0, 0), max(radius / 2.0, 0.8))
    filtered = guided_filter(guide, coarse, radius=max(radius, 2), eps=1e-4)
    unknown = trimap.unknown[window]
    alpha[window][unknown] = np.clip(filtered[unknown], 0.0, 1.0)


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
