"""The coarse product mask, at a reduced working size, from a backdrop model and GrabCut.

Steps, each one concern:
1. distance of every pixel to the backdrop model, in units of the backdrop's own noise;
2. floor-shadow candidates: the backdrop darkened without a change of chromaticity;
3. strong edges, with a threshold above the backdrop's own texture;
4. the outside: everything reachable from the border band through backdrop-like or shadow pixels
   without crossing a strong edge (a soft shadow has no strong edge, a product silhouette does);
5. holes: enclosed backdrop-like regions (a mug handle's hole) that match the backdrop model and
   are bounded by sharp edges; a near-white glossy highlight grades softly into the product and
   a printed label differs from the backdrop colour, so neither is a hole;
6. GrabCut, seeded with sure/probable labels from the above, decides the boundary band.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photostage.cutout.background import BackgroundModel, border_band_mask

BACKDROP_DISTANCE = 3.5  # in backdrop noise units: below this a pixel looks like backdrop
MIN_EDGE_STRENGTH = 0.03  # gradient per pixel (colours in [0, 1]) that counts as a silhouette edge
SHADOW_MIN_RATIO = 0.3  # a floor shadow keeps at least this fraction of the backdrop's brightness
SHADOW_CHROMA_TOLERANCE = 0.02
HOLE_EDGE_FRACTION = 0.45  # share of a hole's rim that must be a strong edge
HOLE_BACKDROP_FRACTION = 0.3  # share of a hole that must look like backdrop (the rest: shadow)
HOLE_COLOUR_MATCH = 2.5  # |median residual| / noise inside a hole


@dataclass(frozen=True)
class BackdropEvidence:
    """Per-pixel evidence at working size, derived from the backdrop model."""

    distance: np.ndarray  # float32, residual to the backdrop in noise units
    backdrop_like: np.ndarray  # bool
    shadow_like: np.ndarray  # bool, darker than the backdrop with the same chromaticity
    edges: np.ndarray  # bool, strong colour edges
    residual: np.ndarray  # float32 (h, w, 3), colour minus predicted backdrop, in noise units


@dataclass(frozen=True)
class CoarseMask:
    """The working-size segmentation: ``product`` after GrabCut; ``holes`` enclosed backdrop."""

    product: np.ndarray
    holes: np.ndarray
    outside: np.ndarray


def gather_evidence(smooth: np.ndarray, model: BackgroundModel, band: int) -> BackdropEvidence:
    """Steps 1-3 on ``smooth`` (h, w, 3) float32 in [0, 1], a lightly blurred working image."""
    height, width = smooth.shape[:2]
    surface = model.surface(height, width)
    residual = (smooth - surface) / model.noise
    distance = np.sqrt(np.mean(residual * residual, axis=2)).astype(np.float32)
    backdrop_like = distance < BACKDROP_DISTANCE
    shadow_like = _shadow_like(smooth, surface, model.noise) & ~backdrop_like
    edges = _strong_edges(smooth, border_band_mask(height, width, band))
    return BackdropEvidence(distance, backdrop_like, shadow_like, edges, residual.astype(np.float32))


def _shadow_like(smooth: np.ndarray, surface: np.ndarray, noise: np.ndarray) -> np.ndarray:
    brightness = smooth.sum(axis=2)
    backdrop_brightness = np.maximum(surface.sum(axis=2), 1e-3)
    ratio = brightness / backdrop_brightness
    chroma = smooth / np.maximum(brightness, 1e-3)[..., None]
    backdrop_chroma = surface / backdrop_brightness[..., None]
    tolerance = SHADOW_CHROMA_TOLERANCE + 2.0 * float(noise.max()) / np.maximum(brightness, 0.05)
    same_chroma = np.abs(chroma - backdrop_chroma).max(axis=2) < tolerance
    return same_chroma & (ratio > SHADOW_MIN_RATIO) & (ratio < 1.0)


def _strong_edges(smooth: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Gradient magnitude (max over channels) above both a floor and the border's own texture."""
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    magnitude = np.sqrt(gx * gx + gy * gy).max(axis=2)
    texture = float(np.percentile(magnitude[border], 99)) if border.any() else 0.0
    return magnitude > max(MIN_EDGE_STRENGTH, 3.0 * texture)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0


def outside_region(evidence: BackdropEvidence, band: int) -> np.ndarray:
    """Step 4: backdrop and soft shadow connected to the border band, not crossing strong edges."""
    height, width = evidence.distance.shape
    passable = (evidence.backdrop_like | evidence.shadow_like) & ~_dilate(evidence.edges, 1)
    count, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros((height, width), bool)
    touching = np.unique(labels[border_band_mask(height, width, band) & passable])
    touching = touching[touching > 0]
    return np.isin(labels, touching)


def find_holes(evidence: BackdropEvidence, outside: np.ndarray, min_area: int) -> np.ndarray:
    """Step 5: enclosed regions that are backdrop seen through the product (a handle's hole)."""
    passable = (evidence.backdrop_like | evidence.shadow_like) & ~_dilate(evidence.edges, 1) & ~outside
    count, labels, stats, _ = cv2.connectedComponentsWithStats(passable.astype(np.uint8), connectivity=4)
    holes = np.zeros_like(outside)
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, w, h = (int(v) for v in stats[label, :4])
        window = (slice(max(y - 3, 0), y + h + 3), slice(max(x - 3, 0), x + w + 3))
        region = labels[window] == label
        if _is_hole(region, evidence, window, min_area):
            holes[window] |= region
    return holes


def _is_hole(region: np.ndarray, evidence: BackdropEvidence, window: tuple[slice, slice], min_area: int) -> bool:
    backdrop = region & evidence.backdrop_like[window]
    if backdrop.sum() < max(min_area // 2, 1) or backdrop.sum() < HOLE_BACKDROP_FRACTION * region.sum():
        return False
    colour_offset = np.abs(np.median(evidence.residual[window][backdrop], axis=0))
    if float(colour_offset.max()) > HOLE_COLOUR_MATCH:
        return False
    rim = _dilate(region, 2) & ~region
    return float(evidence.edges[window][rim].mean()) >= HOLE_EDGE_FRACTION


def keep_substantial(mask: np.ndarray, min_fraction_of_largest: float, min_area: int) -> np.ndarray:
    """Drop specks: components smaller than ``min_area`` or a fraction of the largest component."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    threshold = max(min_area, int(min_fraction_of_largest * areas.max()))
    keep = np.concatenate([[False], areas >= threshold])
    return keep[labels]


def grabcut_refine(
    image: np.ndarray, product: np.ndarray, sure_band: int, iterations: int
) -> np.ndarray:
    """Step 6: GrabCut on a crop around the product; only a band of ``sure_band`` pixels each side of
    the first boundary is left probable, the rest is fixed. ``image`` is (h, w, 3) uint8."""
    if not product.any() or iterations <= 0:
        return product
    near = _dilate(product, sure_band)
    labels = np.full(product.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[product] = cv2.GC_PR_FGD
    labels[_erode(product, sure_band)] = cv2.GC_FGD
    ys, xs = np.nonzero(near)
    margin = 2 * sure_band + 4
    y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, product.shape[0])
    x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, product.shape[1])
    crop_labels = np.ascontiguousarray(labels[y0:y1, x0:x1])
    has_fg = np.isin(crop_labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
    has_bg = np.isin(crop_labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
    if not (has_fg and has_bg):
        return product
    background_gmm = np.zeros((1, 65), np.float64)
    foreground_gmm = np.zeros((1, 65), np.float64)
    crop_image = np.ascontiguousarray(image[y0:y1, x0:x1])
    cv2.grabCut(crop_image, crop_labels, None, background_gmm, foreground_gmm, iterations, cv2.GC_INIT_WITH_MASK)
    refined = product.copy()
    refined[y0:y1, x0:x1] = np.isin(crop_labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return refined
