"""The coarse product mask, at a reduced working size, from a backdrop model and GrabCut.

Steps, each one concern:
1. distance of every pixel to the backdrop model, in units of the backdrop's own noise;
2. floor-shadow candidates: the backdrop darkened without a change of chromaticity;
3. silhouette edges, one pixel thin: gradients above the backdrop's own texture that are strong,
   or weaker but sharp (a pale product edge is a step; a shadow's rim is a ramp);
4. the outside: everything reachable from the border band through backdrop-like or shadow pixels
   without crossing an edge (a soft shadow has no edge, a product silhouette does);
5. holes: enclosed backdrop-like regions (a mug handle's hole) that match the backdrop model and
   are bounded by sharp edges; a near-white glossy highlight grades softly into the product and
   a printed label differs from the backdrop colour, so neither is a hole;
6. GrabCut, seeded with sure/probable labels from the above, decides the boundary band; pixels
   unmistakably unlike backdrop and shadow stay product whatever its colour models say.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photostage.cutout.background import BackgroundModel, border_band_mask

BACKDROP_DISTANCE = 3.5  # in backdrop noise units: below this a pixel looks like backdrop
MIN_EDGE_STRENGTH = 0.03  # gradient per pixel (colours in [0, 1]) that counts as a silhouette edge
MIN_SHARP_EDGE_STRENGTH = 0.012  # a weaker gradient still counts when it is sharp (a step, not a ramp)
SHARPNESS_RATIO = 1.6
SHADOW_MIN_RATIO = 0.3  # a floor shadow keeps at least this fraction of the backdrop's brightness
SHADOW_CHROMA_TOLERANCE = 0.006  # real shadows keep the backdrop hue; cream or beige surfaces do not
HOLE_EDGE_FRACTION = 0.6  # share of a hole's rim that must lie on a silhouette edge
HOLE_BACKDROP_FRACTION = 0.3  # share of a hole that must look like backdrop (the rest: shadow)
HOLE_COLOUR_MATCH = 2.5  # |median residual| / noise inside a hole
HOLE_MAX_ISLANDS = 0.05  # enclosed non-backdrop area, relative to the hole
HOLE_MIN_TEXTURE = 0.5  # fine-grain energy inside a hole on a textured backdrop, relative to the border
OUTSIDE_GROWTH = 3
TEXTURE_DISTANCE = 2.0 * BACKDROP_DISTANCE
CLEAR_DISTANCE = 4.0 * BACKDROP_DISTANCE  # unmistakably not backdrop


@dataclass(frozen=True)
class BackdropEvidence:
    """Per-pixel evidence at working size, derived from the backdrop model."""

    distance: np.ndarray  # float32, residual to the backdrop in noise units
    backdrop_like: np.ndarray  # bool
    shadow_like: np.ndarray  # bool, darker than the backdrop with the same chromaticity
    edges: np.ndarray  # bool, silhouette edges
    passable: np.ndarray  # bool, what the outside may spread through
    textured: bool
    detail: np.ndarray  # float32, fine-grain texture energy relative to the backdrop's (1 = alike)
    residual: np.ndarray  # float32 (h, w, 3), colour minus predicted backdrop, in noise units


@dataclass(frozen=True)
class CoarseMask:
    """The working-size segmentation: ``product`` after GrabCut; ``holes`` enclosed backdrop."""

    product: np.ndarray
    holes: np.ndarray
    outside: np.ndarray


def gather_evidence(
    image: np.ndarray, smooth: np.ndarray, model: BackgroundModel, band: int
) -> BackdropEvidence:
    """Steps 1-3 on the working ``image`` (h, w, 3) uint8 and ``smooth``, the same blurred, float32
    in [0, 1].

    On a textured backdrop the residual is spatially correlated (blotches of paper or cloth), so
    pixels up to twice the backdrop distance are passable too when no edge is near them.
    """
    height, width = smooth.shape[:2]
    surface = model.surface(height, width)
    residual = (smooth - surface) / model.noise
    distance = np.sqrt(np.mean(residual * residual, axis=2)).astype(np.float32)
    backdrop_like = distance < BACKDROP_DISTANCE
    shadow_like = _shadow_like(smooth, surface, model.noise) & ~backdrop_like
    border = border_band_mask(height, width, band)
    edges = _strong_edges(smooth, border)
    detail = _fine_detail(image)
    detail /= max(float(np.median(detail[border])), 1e-3)
    passable = backdrop_like | shadow_like
    if model.kind == "textured":
        passable |= (distance < TEXTURE_DISTANCE) & ~_dilate(edges, 3)
    passable &= ~_dilate(edges, 1)
    return BackdropEvidence(distance, backdrop_like, shadow_like, edges, passable, model.kind == "textured",
                            detail, residual.astype(np.float32))


def _fine_detail(image: np.ndarray) -> np.ndarray:
    """Local energy of the finest texture (grain, weave), smoothed over a few pixels."""
    colour = image.astype(np.float32)
    high = np.abs(colour - cv2.GaussianBlur(colour, (0, 0), 1.5)).mean(axis=2)
    return cv2.GaussianBlur(high, (0, 0), 1.0)


def _shadow_like(smooth: np.ndarray, surface: np.ndarray, noise: np.ndarray) -> np.ndarray:
    brightness = smooth.sum(axis=2)
    backdrop_brightness = np.maximum(surface.sum(axis=2), 1e-3)
    ratio = brightness / backdrop_brightness
    chroma = smooth / np.maximum(brightness, 1e-3)[..., None]
    backdrop_chroma = surface / backdrop_brightness[..., None]
    tolerance = SHADOW_CHROMA_TOLERANCE + float(noise.max()) / np.maximum(brightness, 0.05)
    same_chroma = np.abs(chroma - backdrop_chroma).max(axis=2) < tolerance
    return same_chroma & (ratio > SHADOW_MIN_RATIO) & (ratio < 1.0)


def _strong_edges(smooth: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Silhouette edges: gradients above the border's own texture that are either strong, or weaker
    but *sharp*. Sharpness compares the gradient at two blur scales: a step edge's gradient drops
    about 2.4x under extra blur, a soft shadow's ramp hardly changes, so a pale product edge is
    kept while the fading rim of a floor shadow is not."""
    fine, gx, gy = _gradient(smooth)
    coarse = _gradient(cv2.GaussianBlur(smooth, (0, 0), 2.5))[0]
    texture = float(np.percentile(fine[border], 99)) if border.any() else 0.0
    strong = fine > max(MIN_EDGE_STRENGTH, 3.0 * texture)
    sharp = (fine > max(MIN_SHARP_EDGE_STRENGTH, 2.0 * texture)) & (fine > SHARPNESS_RATIO * coarse)
    return (strong | sharp) & _ridge(fine, gx, gy)


def _gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient magnitude (max over channels, colour units per pixel) and the x/y components of the
    channel that has it."""
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    magnitude = gx * gx + gy * gy
    strongest = magnitude.argmax(axis=2)[..., None]
    pick = np.take_along_axis
    return (np.sqrt(pick(magnitude, strongest, 2)[..., 0]), pick(gx, strongest, 2)[..., 0],
            pick(gy, strongest, 2)[..., 0])


def _ridge(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Non-maximum suppression (as in Canny): keep pixels whose gradient is a maximum across the
    edge, so edges are one pixel thin and the outside reaches the silhouette itself."""
    padded = np.pad(magnitude, 1, mode="edge")
    height, width = magnitude.shape
    angle = np.mod(np.degrees(np.arctan2(gy, gx)), 180.0)
    sector = (((angle + 22.5) // 45.0).astype(np.int8)) % 4
    keep = np.zeros(magnitude.shape, bool)
    for index, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        behind = padded[1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
        keep |= (sector == index) & (magnitude >= ahead) & (magnitude >= behind)
    return keep


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
    passable = evidence.passable
    count, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros((height, width), bool)
    touching = np.unique(labels[border_band_mask(height, width, band) & passable])
    touching = touching[touching > 0]
    return _grow_into(np.isin(labels, touching), evidence.backdrop_like, OUTSIDE_GROWTH)


def _grow_into(region: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Geodesic dilation: grow ``region`` by up to ``steps`` pixels through ``allowed`` pixels (the
    outside reclaims backdrop-coloured pixels hidden under the edge map's dilation)."""
    kernel = np.ones((3, 3), np.uint8)
    grown = region.astype(np.uint8)
    limit = (region | allowed).astype(np.uint8)
    for _ in range(steps):
        grown = cv2.dilate(grown, kernel) & limit
    return grown > 0


def find_holes(evidence: BackdropEvidence, outside: np.ndarray, min_area: int) -> np.ndarray:
    """Step 5: enclosed regions that are backdrop seen through the product (a handle's hole)."""
    passable = evidence.passable & ~outside
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


def _is_hole(
    region: np.ndarray, evidence: BackdropEvidence, window: tuple[slice, slice], min_area: int
) -> bool:
    """Backdrop seen through the product: mostly backdrop-coloured, free of islands (a label's
    printing), textured like the backdrop where the backdrop is textured, and bounded by sharp
    edges (a glossy highlight fades softly into the product instead)."""
    backdrop = region & evidence.backdrop_like[window]
    if backdrop.sum() < max(min_area // 2, 1) or backdrop.sum() < HOLE_BACKDROP_FRACTION * region.sum():
        return False
    if _island_area(region) > HOLE_MAX_ISLANDS * region.sum():
        return False
    if evidence.textured and _median_detail(backdrop, evidence, window) < HOLE_MIN_TEXTURE:
        return False
    colour_offset = np.abs(np.median(evidence.residual[window][backdrop], axis=0))
    tolerance = HOLE_COLOUR_MATCH * (2.0 if evidence.textured else 1.0)  # blotches shift local colour
    if float(colour_offset.max()) > tolerance:
        return False
    rim = _dilate(region, 2) & ~region
    return float(_dilate(evidence.edges[window], 1)[rim].mean()) >= HOLE_EDGE_FRACTION


def _median_detail(region: np.ndarray, evidence: BackdropEvidence, window: tuple[slice, slice]) -> float:
    """Fine-grain energy of a region away from its edges (print on a label would otherwise count)."""
    core = region & ~_dilate(evidence.edges[window], 3)
    if core.sum() < 8:
        core = region
    return float(np.median(evidence.detail[window][core]))


def _island_area(region: np.ndarray) -> int:
    """Pixels enclosed by ``region`` that do not belong to it (letters printed on a label)."""
    padded = np.pad(region.astype(np.uint8), 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return int((outside == 0).sum())


def keep_substantial(mask: np.ndarray, min_fraction_of_largest: float, min_area: int) -> np.ndarray:
    """Drop specks: components smaller than ``min_area`` or a fraction of the largest component."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    threshold = max(min_area, int(min_fraction_of_largest * areas.max()))
    keep = np.concatenate([[False], areas >= threshold])
    return keep[labels]


def certain_product(product: np.ndarray, evidence: BackdropEvidence) -> np.ndarray:
    """Product pixels GrabCut may not give away: unmistakably unlike backdrop and shadow (a thin dark
    sole next to a grey shadow would otherwise be lost to the shadow's colour model)."""
    clear = product & (evidence.distance > CLEAR_DISTANCE) & ~evidence.shadow_like
    return _erode(clear, 1)


def grabcut_refine(
    image: np.ndarray, product: np.ndarray, certain: np.ndarray, sure_band: int, iterations: int
) -> np.ndarray:
    """Step 6: GrabCut on a crop around the product; only a band of ``sure_band`` pixels each side of
    the first boundary, minus the ``certain`` product pixels, is left probable; the rest is fixed.
    ``image`` is (h, w, 3) uint8."""
    if not product.any() or iterations <= 0:
        return product
    near = _dilate(product, sure_band)
    labels = np.full(product.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[product] = cv2.GC_PR_FGD
    labels[_erode(product, sure_band) | (certain & product)] = cv2.GC_FGD
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
    cv2.grabCut(crop_image, crop_labels, None, background_gmm, foreground_gmm, iterations,
                cv2.GC_INIT_WITH_MASK)
    refined = product.copy()
    refined[y0:y1, x0:x1] = np.isin(crop_labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return refined
