"""Keeping the model off the product's outline, and noticing when it did not keep off.

An inpainting model that sees a product tightly masked tends to continue it: a bottle grows a
taller neck, a bag a second strap, a box a ghostly second edge. Two defences:

* a protected band: the area the model may not paint is the product grown by a band that scales
  with the product (a share of its size, never under a floor in pixels), so the product reads as
  an object standing in a scene, not one cut off at the mask;
* a check on the result: just outside the band, the model's pixels are compared with the
  product's own colours at the nearest point of its outline and with the scene a little further
  out. Where the model painted product-like colour that the scene around does not explain, the
  outline was extended. Only pixels where product and scene differ enough are judged; the zone
  under the product's base, where shadows belong, is not.

All numpy/OpenCV and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

OPAQUE_ENOUGH = 8  # alpha above this counts as product
SOLID = 250  # alpha from which a pixel's colour is the product's own (not mixed with the backdrop)
MIN_CONTRAST = 48.0  # RGB distance between product and scene below which a pixel cannot be judged
BASE_SHARE = 0.12  # lowest share of the product's height whose surroundings are left to shadows
MIN_JUDGED_SHARE = 0.1  # fewer judgeable ring pixels than this share: the check abstains
PALETTE_REACH = 4  # px around the nearest outline point whose colours count as the product's
DEFAULT_THRESHOLD = 0.25  # outline continued along a quarter of the product's size: flagged


@dataclass(frozen=True)
class OutlineCheck:
    """How much of the product's outline the model continued past the protected band.

    ``score`` is the length of outline (in pixels of the product's edge) bordered by product-like
    paint that crosses the whole ring outside the band, divided by the product's size (geometric
    mean of its box sides): 0.5 means an extension along half a side's length.
    """

    score: float
    judged: float  # share of the ring's pixels that could be judged (product and scene differ enough)
    flagged: bool

    def as_info(self) -> dict[str, object]:
        return {"outline_score": round(self.score, 3), "outline_judged": round(self.judged, 3),
                "outline_flagged": self.flagged}


def product_mask(alpha: np.ndarray) -> np.ndarray:
    return np.where(alpha > OPAQUE_ENOUGH, np.uint8(255), np.uint8(0))


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` (Euclidean distance), uint8 0/255."""
    if pixels <= 0:
        return mask
    outside = cv2.distanceTransform(cv2.bitwise_not(mask), cv2.DIST_L2, 5)
    return np.where(outside <= pixels, np.uint8(255), np.uint8(0))


def band_width(alpha: np.ndarray, share: float, floor_px: int) -> int:
    """The protected band in pixels: ``share`` of the product's size (the geometric mean of its box
    sides), at least ``floor_px``."""
    rows = np.flatnonzero((alpha > OPAQUE_ENOUGH).any(axis=1))
    cols = np.flatnonzero((alpha > OPAQUE_ENOUGH).any(axis=0))
    if rows.size == 0:
        return floor_px
    size = math.sqrt(float(rows[-1] - rows[0] + 1) * float(cols[-1] - cols[0] + 1))
    return max(floor_px, round(share * size))


def protected_area(alpha: np.ndarray, band: int) -> np.ndarray:
    """uint8 mask, 255 on the product grown by ``band`` pixels: what the model may not paint."""
    return _grow(product_mask(alpha), band)


def _smoothed_within(rgb: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the local mean colour of ``rgb`` over ``mask`` only; NaN where no
    masked pixel is near. Wide blurs run on a reduced copy (the result is smooth anyway)."""
    height, width = mask.shape
    factor = max(1, int(sigma // 4))
    small = (max(1, width // factor), max(1, height // factor))
    weight: np.ndarray = (mask > 0).astype(np.float32)
    values: np.ndarray = rgb.astype(np.float32) * weight[..., None]
    if factor > 1:
        weight = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
        values = cv2.resize(values, small, interpolation=cv2.INTER_AREA)
    blurred_weight = cv2.GaussianBlur(weight, (0, 0), sigma / factor)
    blurred = cv2.GaussianBlur(values, (0, 0), sigma / factor)
    if factor > 1:
        blurred_weight = cv2.resize(blurred_weight, (width, height), interpolation=cv2.INTER_LINEAR)
        blurred = cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = blurred / blurred_weight[..., None]
    mean[blurred_weight < 1e-3] = np.nan
    return mean


def check_outline(
    painted: np.ndarray, product_rgba: np.ndarray, band: int, threshold: float = DEFAULT_THRESHOLD
) -> OutlineCheck:
    """Did the model extend the product's outline beyond the protected band?

    ``painted`` is the model's (H, W, 3) uint8 output; ``product_rgba`` the product layer at the
    same size (straight alpha); ``band`` the protected band the model was given.
    """
    full_core = product_mask(product_rgba[..., 3])
    rows = np.flatnonzero(full_core.any(axis=1))
    cols = np.flatnonzero(full_core.any(axis=0))
    if rows.size == 0:
        return OutlineCheck(0.0, 0.0, False)
    width = max(2, band)
    reach = band + 6 * width + 2
    top, bottom = max(0, rows[0] - reach), min(full_core.shape[0], rows[-1] + 1 + reach)
    left, right = max(0, cols[0] - reach), min(full_core.shape[1], cols[-1] + 1 + reach)
    window = (slice(top, bottom), slice(left, right))
    core, alpha = full_core[window], product_rgba[window][..., 3]
    product_rgb, painted = product_rgba[window][..., :3], painted[window]

    # Rings by distance from the product: the band, the ring judged just outside it, the scene beyond.
    outside = cv2.distanceTransform(cv2.bitwise_not(core), cv2.DIST_L2, 5)
    ring = (outside > band + 1) & (outside <= band + width)
    outer_edge = ring & (outside > band + width - 1)
    scene_zone = (outside > band + 2 * width) & (outside <= band + 6 * width)

    # The product's own colours around the nearest point of its outline (opaque pixels only): a
    # continued outline repeats them, texture and all.
    solid = alpha >= SOLID
    if not solid.any():
        solid = core > 0
    product_colour = _smoothed_within(product_rgb, solid.astype(np.uint8), 1.5)
    _, labels = cv2.distanceTransformWithLabels(
        np.where(solid, 0, 255).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    solid_rows, solid_cols = np.nonzero(solid)
    nearest_row = np.zeros(int(labels.max()) + 1, np.int32)
    nearest_col = np.zeros(int(labels.max()) + 1, np.int32)
    nearest_row[labels[solid]], nearest_col[labels[solid]] = solid_rows, solid_cols
    by_label = np.zeros((int(labels.max()) + 1, 3), np.float32)
    by_label[labels[solid]] = product_colour[solid]

    # Leave the base to shadows: ring pixels whose nearest product point is in its lowest rows.
    base_row = (rows[-1] - top) - BASE_SHARE * (rows[-1] - rows[0] + 1)
    ring &= nearest_row[labels] < base_row

    product_float = product_rgb.astype(np.float32)
    painted_float = painted.astype(np.float32)

    def to_product(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Distance from the painted colour to the nearest of the product's colours near the
        closest outline point (a window of opaque pixels around it)."""
        label = labels[ys, xs]
        row, col = nearest_row[label], nearest_col[label]
        colour = painted_float[ys, xs]
        best = np.full(ys.size, np.inf, np.float32)
        for dy in range(-PALETTE_REACH, PALETTE_REACH + 1, 2):
            r = np.clip(row + dy, 0, solid.shape[0] - 1)
            for dx in range(-PALETTE_REACH, PALETTE_REACH + 1, 2):
                c = np.clip(col + dx, 0, solid.shape[1] - 1)
                difference = colour - product_float[r, c]
                squared = np.einsum("ij,ij->i", difference, difference)
                best = np.where(solid[r, c], np.minimum(best, squared), best)
        return np.sqrt(best)

    # The scene around: from pixels farther out that do not themselves look like the product (so
    # a long extension does not pass for the scene it covers), and from all of them (so a scene
    # that really has the product's colours nearby is not taken for an extension).
    zone_ys, zone_xs = np.nonzero(scene_zone)
    every_other = (zone_ys + zone_xs) % 2 == 0  # half the zone is plenty for a smooth mean
    zone_ys, zone_xs = zone_ys[every_other], zone_xs[every_other]
    look_alike = np.zeros(core.shape, bool)
    look_alike[zone_ys, zone_xs] = to_product(zone_ys, zone_xs) < MIN_CONTRAST / 2
    sampled = np.zeros(core.shape, bool)
    sampled[zone_ys, zone_xs] = True
    unlike_scene = _smoothed_within(painted, (sampled & ~look_alike).astype(np.uint8), 3.0 * width)
    whole_scene = _smoothed_within(painted, scene_zone.astype(np.uint8), 3.0 * width)
    ys, xs = np.nonzero(ring)
    if ys.size == 0:
        return OutlineCheck(0.0, 0.0, False)
    out = painted[ys, xs].astype(np.float32)
    scene = unlike_scene[ys, xs]
    contrast = np.linalg.norm(by_label[labels[ys, xs]] - scene, axis=1)
    judged = np.isfinite(contrast) & (contrast >= MIN_CONTRAST)
    judged_share = float(judged.mean())
    if judged_share < MIN_JUDGED_SHARE:
        return OutlineCheck(0.0, judged_share, False)
    near_product = to_product(ys, xs)
    to_scene = np.minimum(np.linalg.norm(out - scene, axis=1), np.linalg.norm(out - whole_scene[ys, xs], axis=1))
    like = judged & (near_product < 0.5 * contrast) & (near_product < to_scene)

    # Scattered look-alike pixels (texture, noise) are not an outline: keep solid patches that
    # cross the ring from the band to its outer edge, and measure the outline they border.
    product_like: np.ndarray = np.zeros(core.shape, np.uint8)
    product_like[ys[like], xs[like]] = 255
    product_like = cv2.morphologyEx(product_like, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, components = cv2.connectedComponents(product_like, connectivity=8)
    crossing = np.unique(components[outer_edge & (product_like > 0)])
    crossing = crossing[crossing > 0]
    if crossing.size == 0:
        return OutlineCheck(0.0, judged_share, False)
    outline_px = np.unique(labels[np.isin(components, crossing)]).size
    size = math.sqrt(float(rows[-1] - rows[0] + 1) * float(cols[-1] - cols[0] + 1))
    return OutlineCheck(outline_px / size, judged_share, outline_px / size > threshold)
