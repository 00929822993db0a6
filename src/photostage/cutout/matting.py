"""Soft edges at full size: a narrow trimap band around an upscaled coarse mask, then matting.

The coarse mask comes from a working size of at most 512 px, so its upscaled boundary is only
accurate to about one working pixel. The band of that width around it is *unknown*; everything
inside is product (alpha 1), everything outside backdrop (alpha 0). Only the band is matted, in
tiles along it, so a 4 MP photo costs what its silhouette costs rather than what its area costs
(pymatting's Laplacian for a whole 4 MP frame would need gigabytes):

1. a colour-line estimate: each band pixel is unmixed between the local product colour and the
   local backdrop colour (means of the nearby sure pixels), then smoothed by a colour guided
   filter (He et al.) so it follows the image's edges - OpenCV and numpy only;
2. ``closed_form`` (preferred, with pymatting): Levin-Lischinski-Weiss closed-form matting with
   pymatting's matting Laplacian (``cf_laplacian``) and conjugate-gradient solver, solved for the
   unknown pixels only and started from step 1, which makes it converge in a few dozen iterations.
   It recovers hair-fine, semi-transparent detail the colour-line estimate smooths over.
   ``guided`` (the fallback when pymatting is not installed) stops after step 1.

pymatting compiles its numba kernels when first imported (35-80 s; cached on disk when the package
directory or ``NUMBA_CACHE_DIR`` is writable, after which it loads in about 1.5 s).
:func:`warm_up` pays that up front, e.g. when a server starts or once per test session.
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
TILE_MARGIN = 8  # least context around each tile, so tile seams do not show
CG_TOLERANCE = 1e-3  # relative residual of the closed-form solve
CF_EPSILON = 1e-4  # regularisation of the matting Laplacian: smaller follows JPEG noise into the alpha
CG_MAX_ITERATIONS = 500
SNAP = 0.05  # alpha within this of 0 or 1 is solver noise or a faint halo: snapped
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
    image = np.zeros((12, 12, 3), np.float32)
    image[:, 6:] = 1.0
    background = np.zeros((12, 12), bool)
    foreground = np.zeros((12, 12), bool)
    background[:, :3], foreground[:, 9:] = True, True
    closed_form(image, foreground, background, np.full((12, 12), 0.5, np.float32))


@dataclass(frozen=True)
class Trimap:
    """Full-size trimap: ``foreground`` is sure product; ``unknown`` the band to matte."""

    foreground: np.ndarray
    unknown: np.ndarray
    coarse: np.ndarray  # the upscaled coarse mask the band was drawn around

    def settle(self, background: np.ndarray, foreground: np.ndarray) -> Trimap:
        """The same trimap with ``background`` band pixels known alpha 0 (backdrop seen through a
        narrow hole must anchor the matte, or matting fills the hole) and ``foreground`` band pixels
        known alpha 1 (a thin dark strap whose core the band swallowed)."""
        background = background & self.unknown
        foreground = foreground & self.unknown & ~background
        return Trimap(foreground=(self.foreground | foreground) & ~background,
                      unknown=self.unknown & ~background & ~foreground, coarse=self.coarse)


def band_radii(full_size: tuple[int, int], work_size: tuple[int, int]) -> tuple[int, int]:
    """Half-widths (inner, outer) of the unknown band around the upscaled coarse boundary, in
    full-size pixels: outward one working pixel plus one; inward two working pixels plus one, since
    the coarse mask errs outward (it stops where the photo stops being the backdrop's own colour,
    which JPEG ringing and blur push a pixel or two beyond the edge)."""
    scale = int(math.ceil(max(full_size[0] / work_size[0], full_size[1] / work_size[1])))
    return 2 * scale + 1, scale + 1


def build_trimap(coarse: np.ndarray, full_size: tuple[int, int], inner: int, outer: int) -> Trimap:
    """Upscale the working-size ``coarse`` bool mask to ``full_size`` (width, height) and mark a band
    from ``inner`` pixels inside its boundary to ``outer`` pixels outside unknown."""
    width, height = full_size
    upscaled = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
    mask = upscaled.astype(np.uint8)
    grown = cv2.dilate(mask, _disc(outer)) > 0
    shrunk = cv2.erode(mask, _disc(inner), borderType=cv2.BORDER_REPLICATE) > 0
    return Trimap(foreground=shrunk, unknown=grown & ~shrunk, coarse=upscaled)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def matte(rgb: np.ndarray, trimap: Trimap, method: MattingMethod, radius: int, tile: int = 160) -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] for ``rgb`` (H, W, 3) uint8; only the unknown band is solved,
    tile by tile along it, each tile with enough context for local colour statistics."""
    alpha = trimap.foreground.astype(np.float32)
    margin = max(TILE_MARGIN, 2 * radius + 4)
    for cell in cells_with(trimap.unknown, tile):
        window = grow(cell, margin, alpha.shape)
        image = rgb[window].astype(np.float32) / 255.0
        foreground = trimap.foreground[window]
        background = ~(foreground | trimap.unknown[window])
        estimate = colour_line_estimate(image, foreground, background, trimap.coarse[window], radius)
        if method == "closed_form" and foreground.any() and background.any():
            estimate = _solve_mixed(image, foreground, background, estimate)
        unknown = trimap.unknown[cell]
        alpha[cell][unknown] = _snap(estimate[inner(cell, window)][unknown])
    return alpha


def _solve_mixed(
    image: np.ndarray, foreground: np.ndarray, background: np.ndarray, estimate: np.ndarray
) -> np.ndarray:
    """Closed-form matting of the pixels the colour-line estimate leaves mixed; band pixels it settles
    clearly are fixed to its side. Solved over a whole band several
    pixels wide, the matting Laplacian spreads a smooth ramp across flat backdrop and flat product
    (a blurred rim); solved where the photo really mixes the two, it recovers the soft edge."""
    unknown = ~(foreground | background)
    mixed = unknown & (estimate > SNAP) & (estimate < 1.0 - SNAP)
    if not mixed.any():
        return estimate
    settled = unknown & ~mixed
    return closed_form(image, foreground | (settled & (estimate >= 0.5)),
                       background | (settled & (estimate < 0.5)), estimate)


def _snap(values: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and snap the solver's near-0/near-1 noise to exact 0/1 (no faint speckles)."""
    return np.where(values < SNAP, 0.0, np.where(values > 1.0 - SNAP, 1.0, values)).astype(np.float32)


def colour_line_estimate(
    image: np.ndarray, foreground: np.ndarray, background: np.ndarray, coarse: np.ndarray, radius: int
) -> np.ndarray:
    """Unmix each pixel between the local product colour and the local backdrop colour (the means
    of the nearby sure pixels), where those two differ enough; keep the coarse mask elsewhere; then
    smooth lightly with a colour guided filter so the result follows the image's edges.
    The guided fallback's matte, and the starting point of the closed-form solve."""
    size = (4 * radius + 1, 4 * radius + 1)
    local_f, weight_f = _local_mean(image, foreground, size)
    local_b, weight_b = _local_mean(image, background, size)
    axis = local_f - local_b
    length2 = np.sum(axis * axis, axis=2)
    projected = np.sum((image - local_b) * axis, axis=2) / np.maximum(length2, 1e-6)
    usable = (weight_f > 0.02) & (weight_b > 0.02) & (length2 > PROJECTION_MIN_CONTRAST**2)
    source = np.where(usable, np.clip(projected, 0.0, 1.0), coarse.astype(np.float32)).astype(np.float32)
    return guided_filter(image, source, radius=1, eps=1e-3)


def closed_form(
    image: np.ndarray, foreground: np.ndarray, background: np.ndarray, initial: np.ndarray
) -> np.ndarray:
    """Closed-form matting (Levin et al. 2008) of one tile with pymatting's matting Laplacian and
    conjugate-gradient solver: only the unknown pixels are solved for, starting from ``initial``,
    which is already close, so a Jacobi preconditioner and a loose tolerance suffice."""
    from pymatting import cf_laplacian, cg, jacobi

    known = foreground | background
    unknown = ~known
    if not unknown.any():
        return foreground.astype(np.float32)
    laplacian = cf_laplacian(image.astype(np.float64), epsilon=CF_EPSILON, radius=1, is_known=known)
    rows = laplacian[unknown.ravel()]
    system = rows[:, unknown.ravel()]
    right = -rows[:, known.ravel()].dot(foreground[known].astype(np.float64))
    start = initial[unknown].astype(np.float64)
    try:
        solution = cg(system, right, x0=start, M=jacobi(system), rtol=CG_TOLERANCE, maxiter=CG_MAX_ITERATIONS)
    except ValueError:  # pymatting: not converged within maxiter; the colour-line estimate stands
        return initial
    if not np.all(np.isfinite(solution)):
        return initial
    result = foreground.astype(np.float32)
    result[unknown] = solution
    return result


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
    covariance = mean(guide * source[..., None]) - mean_guide * mean_source[..., None]
    r, g, b = (guide[..., i] for i in range(3))
    mr, mg, mb = (mean_guide[..., i] for i in range(3))
    rr = mean(r * r) - mr * mr + eps
    rg = mean(r * g) - mr * mg
    rb = mean(r * b) - mr * mb
    gg = mean(g * g) - mg * mg + eps
    gb = mean(g * b) - mg * mb
    bb = mean(b * b) - mb * mb + eps
    # Inverse of the symmetric 3x3 covariance by cofactors: far faster than a batched solve.
    i_rr, i_rg, i_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    i_gg, i_gb, i_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    determinant = rr * i_rr + rg * i_rg + rb * i_rb
    cr, cg, cb = (covariance[..., i] for i in range(3))
    coefficients = np.stack([i_rr * cr + i_rg * cg + i_rb * cb,
                             i_rg * cr + i_gg * cg + i_gb * cb,
                             i_rb * cr + i_gb * cg + i_bb * cb], axis=-1) / determinant[..., None]
    offset = mean_source - np.einsum("hwc,hwc->hw", coefficients, mean_guide)
    return np.einsum("hwc,hwc->hw", mean(coefficients), guide) + mean(offset)
