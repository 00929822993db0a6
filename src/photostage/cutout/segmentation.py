"""The coarse product mask, at a reduced working size, from a backdrop model.

Steps, each one concern:
1. distance of every pixel to the backdrop model, in units of the backdrop's own noise; pixels
   within ``STRICT_DISTANCE`` are the backdrop's own colour (``strict``);
2. shadow candidates: the backdrop darkened without a change of chromaticity;
3. silhouette edges, one pixel thin: gradients above the backdrop's own texture that are strong,
   or weaker but sharp (a pale product edge is a step; a shadow's rim is a ramp);
4. the outside: the strict backdrop connected to the border band. Only the backdrop's own colour is
   passable, so the flood never runs through a gap in a faint edge into a pale product;
5. soft shadows: shadow-coloured regions next to the outside that fade into it along a large part
   of their rim (a product meets the backdrop at an edge) join the outside;
6. holes: enclosed regions of exactly the backdrop's colour (a handle's hole, the gap between an
   arm and the body) are backdrop too; white print and pale surfaces, a few levels off, are not.
The product is what is left, less specks. Nothing here is random: the same pixels give the same
mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photostage.cutout.background import BackgroundModel, border_band_mask

STRICT_DISTANCE = 3.0  # in backdrop noise units: the backdrop's own colour (6 levels on a clean sweep)
MIN_EDGE_STRENGTH = 0.03  # gradient per pixel (colours in [0, 1]) that counts as a silhouette edge
MIN_SHARP_EDGE_STRENGTH = 0.012  # a weaker gradient still counts when it is sharp (a step, not a ramp)
SHARPNESS_RATIO = 1.6
SHADOW_MIN_RATIO = 0.3  # a floor shadow keeps at least this fraction of the backdrop's brightness
SHADOW_CHROMA_TOLERANCE = 0.006  # real shadows keep the backdrop hue; cream or beige surfaces do not
SHADOW_SOFT_RIM = 0.3  # share of a shadow region's rim that fades into the outside
SHADOW_NECK = 2  # shadow candidates are split at necks narrower than 2 * SHADOW_NECK + 1 pixels
SHADOW_MIN_FALLOFF = 0.035  # a shadow deepens towards the product: darkness spread (p90 - p10) within it
REFLECTION_PROBE_ROWS = 4  # rows under a candidate base line that must mirror the rows above it
REFLECTION_MIN_FIT = 0.9  # R² of a row as a scaled copy of its mirror row (colour minus backdrop), on average
REFLECTION_ROW_FIT = 0.75  # ... and for every single row
REFLECTION_MAX_STRENGTH = 0.9  # a reflection is fainter than the product it mirrors
REFLECTION_MIN_FADE = 0.1  # and fades: strength falls by this much over the probe rows
REFLECTION_END_FADE = 0.65  # ... to this share of its first strength by its last measured row
REFLECTION_MEASURED = 0.8  # share of a reflection's rows that must be measurable mirror rows
REFLECTION_MIN_COLUMNS = 6
REFLECTION_FLOOR_ROWS = 2  # a reflection ends inside the frame, at least this many rows of floor below it
REFLECTION_MIN_CONTRAST = 8.0  # RMS residual of the mirrored rows, noise units: enough to judge
HOLE_MEDIAN_DISTANCE = 1.0  # a hole's median distance to the backdrop model, noise units (at least)
HOLE_COLOUR_MATCH = 1.0  # |median residual| / noise inside a hole, per channel
HOLE_MAX_ISLANDS = 0.05  # enclosed non-backdrop area, relative to the hole
TEXTURE_DISTANCE = 2.0 * STRICT_DISTANCE


@dataclass(frozen=True)
class BackdropEvidence:
    """Per-pixel evidence at working size, derived from the backdrop model."""

    distance: np.ndarray  # float32, residual to the backdrop in noise units
    strict: np.ndarray  # bool, the backdrop's own colour
    shadow_like: np.ndarray  # bool, darker than the backdrop with the same chromaticity
    darkness: np.ndarray  # float32, 1 - brightness / backdrop brightness
    edges: np.ndarray  # bool, silhouette edges
    textured: bool
    residual: np.ndarray  # float32 (h, w, 3), colour minus predicted backdrop, in noise units


@dataclass(frozen=True)
class CoarseMask:
    """The working-size segmentation: ``product``; ``holes`` and ``shadows`` taken out of it."""

    product: np.ndarray
    holes: np.ndarray
    shadows: np.ndarray
    outside: np.ndarray


def gather_evidence(smooth: np.ndarray, model: BackgroundModel, band: int) -> BackdropEvidence:
    """Steps 1-3 on the working image ``smooth``, lightly blurred, (h, w, 3) float32 in [0, 1]."""
    height, width = smooth.shape[:2]
    surface = model.surface(height, width)
    residual = (smooth - surface) / model.noise
    distance = np.sqrt(np.mean(residual * residual, axis=2)).astype(np.float32)
    strict = distance < STRICT_DISTANCE
    shadow_like = _shadow_like(smooth, surface, model.noise) & ~strict
    darkness = (1.0 - smooth.sum(axis=2) / np.maximum(surface.sum(axis=2), 1e-3)).astype(np.float32)
    border = border_band_mask(height, width, band)
    backdrop_border = border & _erode(strict, 2)  # the product may stand on an edge: not texture
    edges = _strong_edges(smooth, backdrop_border if backdrop_border.sum() >= 32 else border)
    return BackdropEvidence(distance, strict, shadow_like, darkness, edges, model.kind == "textured",
                            residual.astype(np.float32))


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
    """Silhouette edges: gradients above the texture of the backdrop's ``border`` pixels that are
    either strong, or weaker but *sharp*. Sharpness compares the gradient at two blur scales: a
    step edge's gradient drops about 2.4x under extra blur, a soft shadow's ramp hardly changes, so
    a pale product edge is kept while the fading rim of a floor shadow is not."""
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
    """Step 4: the backdrop connected to the border band, through pixels that are the backdrop's
    own colour within its noise (``strict``; on a textured backdrop also blotches away from edges)
    and not on a silhouette edge.

    Nothing darker or paler than the backdrop is passable here, so a white carton at 248 on a 255
    sweep, a grey garment or a pale cap is never flooded; soft shadows are taken out afterwards by
    :func:`soft_shadows`, region by region. The flood runs through necks at least three pixels wide
    (a one-pixel seam of white stitching between two edges is not a way in); what it leaves behind
    that is backdrop after all is found by :func:`find_holes`."""
    passable = evidence.strict
    if evidence.textured:
        passable = passable | ((evidence.distance < TEXTURE_DISTANCE) & ~_dilate(evidence.edges, 3))
    passable = passable & ~evidence.edges
    core = _border_connected(_erode(passable, 1), band)
    return _grow_into(core, passable, 2)


def _border_connected(passable: np.ndarray, band: int) -> np.ndarray:
    """The components of ``passable`` that reach the border band."""
    height, width = passable.shape
    count, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros((height, width), bool)
    touching = np.unique(labels[border_band_mask(height, width, band) & passable])
    touching = touching[touching > 0]
    return np.isin(labels, touching)


def _grow_into(region: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Geodesic dilation: grow ``region`` by up to ``steps`` pixels through ``allowed`` pixels."""
    kernel = np.ones((3, 3), np.uint8)
    grown = region.astype(np.uint8)
    limit = (region | allowed).astype(np.uint8)
    for _ in range(steps):
        grown = cv2.dilate(grown, kernel) & limit
    return grown > 0


def soft_shadows(evidence: BackdropEvidence, outside: np.ndarray, min_area: int) -> np.ndarray:
    """Step 5: floor and drop shadows next to the outside: regions of backdrop darkened without a
    change of hue, away from silhouette edges, that fade into the backdrop along a large part of
    their rim. A product surface as pale or grey as a shadow (a white carton, a grey hoodie) meets
    the backdrop at its silhouette edge instead, and touches the outside only where that edge has a
    gap; so the share of a region's rim that is soft contact with the backdrop decides, not its
    colour. Studio light comes from above, so a shadow on the floor lies below the middle of what
    is not backdrop; a pale region up at the top of a carton is no shadow, however soft its rim.
    And a shadow deepens from its fading rim towards the product, while a pale face is flat."""
    candidates = evidence.shadow_like & ~outside & ~_dilate(evidence.edges, 1)
    rows = np.flatnonzero((~outside).any(axis=1))
    middle = (rows[0] + rows[-1]) / 2.0 if rows.size else 0.0
    # A grey product and its shadow may touch through a gap in the edge between them: split the
    # candidates at necks narrower than 2 * SHADOW_NECK + 1 and judge each part on its own.
    cores = _erode(candidates, SHADOW_NECK)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cores.astype(np.uint8), connectivity=4)
    shadows = np.zeros_like(outside)
    margin = SHADOW_NECK + 3
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, w, h = (int(v) for v in stats[label, :4])
        if y + h / 2.0 < middle:
            continue  # lit from above, a product casts its shadow on the floor: below its middle
        window = (slice(max(y - margin, 0), y + h + margin), slice(max(x - margin, 0), x + w + margin))
        region = _grow_into(labels[window] == label, candidates[window], SHADOW_NECK + 1)
        rim = _dilate(region, 1) & ~region
        if not rim.any() or float(outside[window][rim].mean()) < SHADOW_SOFT_RIM:
            continue
        darkness = evidence.darkness[window][region]
        deepest = float(np.percentile(darkness, 90))
        if deepest - float(np.percentile(darkness, 10)) < SHADOW_MIN_FALLOFF:
            continue  # flat: a pale face, not a shadow deepening towards its caster
        shadows[window] |= region
    # The pixels next to the product's edge were left out of the candidates (and blur mixes the
    # product's hue into them): claim them up to the edge ridge itself.
    return _grow_into(shadows, ~evidence.edges, 2) & ~outside


def mirror_reflection(evidence: BackdropEvidence, product: np.ndarray) -> np.ndarray:
    """Step 5b: a glossy floor's mirror image of the product under its base. Below the base line
    each row is the row the same distance above it, faded towards the backdrop:
    ``I(b + k) - B = s_k (I(b - 1 - k) - B)``, ``s_k`` below ``REFLECTION_MAX_STRENGTH`` and falling
    with ``k``. Inside a product a row mirrors its neighbours at full strength (``s = 1``), and a
    product whose lower half mirrors its upper half (a ball lit from above) is darker below, never
    fading, so neither fits. The topmost base line that fits is taken, and the rows from it to the
    bottom of the mask must be measurable (``REFLECTION_MEASURED``), keep fitting and fading, down
    to a faint end inside the frame: a mask that runs off the frame's bottom (a carton cropped at
    its base, whose flat lower panel mirrors the rows above it) has no reflection to find."""
    reflection = np.zeros_like(product)
    rows = np.flatnonzero(product.any(axis=1))
    if rows.size < 8:
        return reflection
    top, bottom = int(rows[0]), int(rows[-1])
    if bottom >= product.shape[0] - REFLECTION_FLOOR_ROWS:
        return reflection  # runs off the frame: no floor below shows it fading out (a carton's base)
    residual = evidence.residual
    base = next((line for line in range((top + bottom) // 2, bottom - REFLECTION_PROBE_ROWS)
                 if _mirror_fits(residual, product, line)), None)
    if base is None:
        return reflection
    strengths: list[float] = []
    goodness: list[float] = []
    rows_below = bottom - base + 1
    for k in range(rows_below):
        if base - 1 - k < top:
            return reflection  # taller than the product above it: not its mirror image
        fit = _mirror_row(residual, product, base, k)
        if fit is not None:
            if fit[0] < REFLECTION_ROW_FIT or (strengths and fit[1] > 1.15 * min(strengths)):
                return reflection  # a row that is no faded mirror image: this is the product itself
            strengths.append(fit[1])
            goodness.append(fit[0])
    # Measured on most of its rows, a good fit overall, and fading out into the floor.
    if (len(strengths) < REFLECTION_MEASURED * rows_below or float(np.mean(goodness)) < REFLECTION_MIN_FIT
            or strengths[-1] > REFLECTION_END_FADE * strengths[0]):
        return reflection
    reflection[base:bottom + 1] = product[base:bottom + 1]
    return reflection


def _mirror_fits(residual: np.ndarray, product: np.ndarray, base: int) -> bool:
    """The rows 1..REFLECTION_PROBE_ROWS under ``base`` are faded mirror copies of those above it
    (row 0 is skipped: the light blur of the working image mixes it with the base)."""
    fits = [_mirror_row(residual, product, base, k) for k in range(1, REFLECTION_PROBE_ROWS + 1)]
    if any(fit is None for fit in fits):
        return False
    goodness = [fit[0] for fit in fits if fit is not None]
    strength = [fit[1] for fit in fits if fit is not None]
    return (min(goodness) >= REFLECTION_MIN_FIT and min(strength) > 0.0
            and max(strength) < REFLECTION_MAX_STRENGTH and strength[-1] < strength[0] - REFLECTION_MIN_FADE)


def _mirror_row(residual: np.ndarray, product: np.ndarray, base: int, k: int) -> tuple[float, float] | None:
    """(R², strength) of row ``base + k`` as a scaled copy of row ``base - 1 - k`` (colours minus
    the backdrop); None where too few columns of product are in both, or too little colour."""
    below, above = base + k, base - 1 - k
    if above < 0 or below >= product.shape[0]:
        return None
    columns = product[below] & product[above]
    if columns.sum() < REFLECTION_MIN_COLUMNS:
        return None
    lower = residual[below, columns].ravel().astype(np.float64)
    upper = residual[above, columns].ravel().astype(np.float64)
    energy = float(upper @ upper)
    if energy / upper.size < REFLECTION_MIN_CONTRAST ** 2:
        return None
    strength = float(lower @ upper) / energy
    error = lower - strength * upper
    return (1.0 - float(error @ error) / max(float(lower @ lower), 1e-9), strength)


def find_holes(evidence: BackdropEvidence, outside: np.ndarray, min_area: int) -> np.ndarray:
    """Step 6: enclosed regions that show the backdrop itself (a handle's hole, the gap between an
    arm and the body): the colour of the backdrop around the product, not merely close to it, so
    white print and pale faces inside a product stay product."""
    enclosed = evidence.strict & ~outside
    count, labels, stats, _ = cv2.connectedComponentsWithStats(enclosed.astype(np.uint8), connectivity=4)
    holes = np.zeros_like(outside)
    height, width = outside.shape
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, w, h = (int(v) for v in stats[label, :4])
        window = (slice(max(y - 3, 0), y + h + 3), slice(max(x - 3, 0), x + w + 3))
        reach = max(w, h, 8)
        around = (slice(max(y - reach, 0), min(y + h + reach, height)),
                  slice(max(x - reach, 0), min(x + w + reach, width)))
        if _is_hole(labels[window] == label, evidence, window, outside[around] & evidence.strict[around], around):
            holes[window] |= labels[window] == label
    return holes


def _is_hole(
    region: np.ndarray, evidence: BackdropEvidence, window: tuple[slice, slice], backdrop: np.ndarray,
    around: tuple[slice, slice],
) -> bool:
    """Backdrop seen through the product: free of islands (a label's printing), and the colour of
    the ``backdrop`` around it, not merely within the backdrop's tolerance as a pale face is: its
    median distance to the model no larger than the nearby outside's (plus half a noise unit; at
    least ``HOLE_MEDIAN_DISTANCE``), its median residual within ``HOLE_COLOUR_MATCH`` of theirs."""
    if _island_area(region) > HOLE_MAX_ISLANDS * region.sum():
        return False
    known = backdrop.sum() >= 16
    usual = float(np.median(evidence.distance[around][backdrop])) if known else 0.0
    if float(np.median(evidence.distance[window][region])) > max(HOLE_MEDIAN_DISTANCE, usual + 0.5):
        return False
    colour = np.median(evidence.residual[window][region], axis=0)
    reference = np.median(evidence.residual[around][backdrop], axis=0) if known else np.zeros(3)
    tolerance = HOLE_COLOUR_MATCH * (2.0 if evidence.textured else 1.0)  # blotches shift local colour
    return float(np.abs(colour - reference).max()) <= tolerance


def _island_area(region: np.ndarray) -> int:
    """Pixels enclosed by ``region`` that do not belong to it (letters printed on a label)."""
    return int(_islands(region).sum())


def _islands(region: np.ndarray) -> np.ndarray:
    """The pixels enclosed by ``region`` that do not belong to it."""
    padded = np.pad(region.astype(np.uint8), 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return (outside == 0)[1:-1, 1:-1]


def keep_substantial(mask: np.ndarray, min_fraction_of_largest: float, min_area: int) -> np.ndarray:
    """Drop specks: components smaller than ``min_area`` or a fraction of the largest component."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    threshold = max(min_area, int(min_fraction_of_largest * areas.max()))
    keep = np.concatenate([[False], areas >= threshold])
    return keep[labels]
