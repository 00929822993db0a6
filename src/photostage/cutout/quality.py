"""How far to trust a cut-out: a confidence in [0, 1] with named reasons, from the photo and the alpha.

An automatic cut-out can fail in ways a user only sees in the finished scene: the whole frame
taken for the product on a busy photo, a product in fragments, a white product dissolved into a
white sweep. Each failure leaves a trace that can be measured without knowing the truth, and each
check here scores one trace from 1 (no sign of it) to 0 (certain):

* ``no_product``: nothing, or next to nothing, stands out from the background;
* ``fills_frame``: the cut-out covers most of the photo (what was left is not a backdrop around a
  product);
* ``touches_three_sides``: the cut-out runs off three or four edges of the frame (a product is
  photographed whole, at most cut by one or two edges, like a carton touching top and bottom);
* ``many_pieces``: the cut-out is many disconnected pieces of similar size;
* ``background_not_uniform``: what was taken for background is not one plain, gradient or lightly
  textured backdrop (a room, a street, a cluttered table);
* ``edge_without_contrast``: along much of the cut-out's outline, inside and outside have the same
  colour (a white product on white: the outline there is a guess).

The confidence is the product of the scores: two moderate doubts make a larger one. The checks
look at a copy of at most ``ASSESS_SIDE`` pixels on the long side, so they cost a few
milliseconds, and they work the same for every engine (classical, neural).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ASSESS_SIDE = 384
REASON_SCORE = 0.9  # a check scoring below this is reported as a reason


@dataclass(frozen=True)
class Reason:
    """One named doubt about a cut-out: ``code`` is stable (for programs), ``message`` is for people."""

    code: str
    score: float
    message: str


@dataclass(frozen=True)
class Confidence:
    """The trust in one cut-out: ``score`` in [0, 1], and the reasons that lowered it, worst first."""

    score: float
    reasons: tuple[Reason, ...]

    def summary(self) -> str:
        """``0.31: the background is not uniform; ...``, or ``0.97`` when nothing is in doubt."""
        if not self.reasons:
            return f"{self.score:.2f}"
        return f"{self.score:.2f}: " + "; ".join(reason.message for reason in self.reasons)

    def as_dict(self) -> dict[str, object]:
        return {"confidence": round(self.score, 3),
                "reasons": [{"code": reason.code, "score": round(reason.score, 3), "message": reason.message}
                            for reason in self.reasons]}


CERTAIN = Confidence(score=1.0, reasons=())


def assess(rgb: np.ndarray, alpha: np.ndarray) -> Confidence:
    """The confidence of cutting ``alpha`` (H, W) uint8 out of ``rgb`` (H, W, 3 or 4) uint8 (a 4th
    channel is ignored, so a decoded RGBA is assessed without a full-size copy)."""
    image, product = _reduced(rgb, alpha)
    area = float(product.mean())
    if area < MIN_PRODUCT_AREA:
        reason = Reason("no_product", 0.0, "nothing in the photo stands out from its background")
        return Confidence(score=0.0, reasons=(reason,))
    reasons = [
        _fills_frame(area),
        _touched_sides(product),
        _pieces(product),
        _background_uniformity(image, product),
        _edge_contrast(image, product),
    ]
    score = float(np.prod([reason.score for reason in reasons]))
    doubts = tuple(sorted((reason for reason in reasons if reason.score < REASON_SCORE), key=lambda r: r.score))
    return Confidence(score=score, reasons=doubts)


MIN_PRODUCT_AREA = 0.002
FILL_DOUBT, FILL_FAIL = 0.92, 0.99  # share of the frame (a DVD case fills 89% of its packshot)
SIDE_COVERAGE = 0.02  # share of an edge's length the cut-out must run along to count as touching it
PIECE_SHARE = 0.05  # pieces smaller than this share of the largest are specks, not counted
PIECES_DOUBT, PIECES_FAIL = 4, 12
BACKDROP_SPREAD_DOUBT, BACKDROP_SPREAD_FAIL = 3.0, 10.0  # robust spread of the background, 8-bit levels
BACKDROP_OUTLIERS_DOUBT, BACKDROP_OUTLIERS_FAIL = 0.10, 0.40  # share of background unlike the backdrop
TEXTURED_GRAIN = 1.5  # median fine-grain energy (8-bit levels) of a textured backdrop's border
SMOOTH_SHARE = 0.3  # background with less than this share of the border's grain has none of it
EDGE_CONTRAST = 8.0  # 8-bit levels between the colours just inside and just outside the outline
FLAT_EDGE_DOUBT, FLAT_EDGE_FAIL = 0.05, 0.60  # share of the outline without that contrast


def _reduced(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = alpha.shape
    scale = min(1.0, ASSESS_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return rgb[..., :3].astype(np.float32), alpha > 127


def _ramp(value: float, doubt: float, fail: float) -> float:
    """1 up to ``doubt``, 0 from ``fail``, linear between."""
    return float(np.clip((fail - value) / (fail - doubt), 0.0, 1.0))


def _fills_frame(area: float) -> Reason:
    return Reason("fills_frame", _ramp(area, FILL_DOUBT, FILL_FAIL),
                  f"the cut-out covers {area:.0%} of the photo")


def _touched_sides(product: np.ndarray) -> Reason:
    edges = (product[0], product[-1], product[:, 0], product[:, -1])
    touched = sum(float(edge.mean()) > SIDE_COVERAGE for edge in edges)
    score = {4: 0.1, 3: 0.35}.get(touched, 1.0)
    return Reason("touches_three_sides", score, f"the cut-out runs off {touched} edges of the frame")


def _pieces(product: np.ndarray) -> Reason:
    count, _, stats, _ = cv2.connectedComponentsWithStats(product.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    pieces = int((areas >= PIECE_SHARE * areas.max()).sum()) if areas.size else 0
    return Reason("many_pieces", _ramp(float(pieces), PIECES_DOUBT, PIECES_FAIL),
                  f"the cut-out is {pieces} separate pieces")


def _background_uniformity(image: np.ndarray, product: np.ndarray) -> Reason:
    """Fit one smooth surface (quadratic per channel) to what was taken for background, away from
    the outline, and measure how well it explains it: its robust spread and the share of outliers."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    background = ~(cv2.dilate(product.astype(np.uint8), kernel) > 0)
    ys, xs = np.nonzero(background)
    if ys.size < 64:
        return Reason("background_not_uniform", 0.0, "almost no background is left around the cut-out")
    step = max(1, ys.size // 6000)
    ys, xs = ys[::step], xs[::step]
    height, width = product.shape
    u, v = xs / max(width - 1, 1), ys / max(height - 1, 1)
    terms = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    colours = image[ys, xs].astype(np.float64)
    inliers = np.ones(ys.size, bool)
    spread = np.zeros(3)
    residual = np.zeros_like(colours)
    for _ in range(3):
        coefficients = np.linalg.lstsq(terms[inliers], colours[inliers], rcond=None)[0]
        residual = colours - terms @ coefficients
        spread = 1.4826 * np.median(np.abs(residual[inliers]), axis=0)
        inliers = np.all(np.abs(residual) <= 3.0 * spread + 3.0, axis=1)
        if inliers.sum() < 16:
            break
    level = float(np.max(spread))
    outliers = 1.0 - float(inliers.mean())
    outliers = max(outliers, _smooth_patches(image, background))
    score = min(_ramp(level, BACKDROP_SPREAD_DOUBT, BACKDROP_SPREAD_FAIL),
                _ramp(outliers, BACKDROP_OUTLIERS_DOUBT, BACKDROP_OUTLIERS_FAIL))
    return Reason("background_not_uniform", score,
                  f"the background is not uniform ({outliers:.0%} unlike a plain backdrop, spread {level:.0f} levels)")


def _smooth_patches(image: np.ndarray, background: np.ndarray) -> float:
    """On a textured backdrop (paper, cloth), the share of what was taken for background that has
    none of its grain: a smooth product the texture flood ran over. 0 on a smooth backdrop."""
    grey = image.mean(axis=2)
    grain = cv2.GaussianBlur(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5)), (0, 0), 2.0)
    height, width = grey.shape
    band = max(2, int(0.04 * max(height, width)))
    border = np.zeros_like(background)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    reference = grain[border & background]
    if reference.size < 32 or float(np.median(reference)) < TEXTURED_GRAIN:
        return 0.0
    return float((grain[background] < SMOOTH_SHARE * float(np.median(reference))).mean())


def _edge_contrast(image: np.ndarray, product: np.ndarray) -> Reason:
    """Compare the mean colour a few pixels inside the outline with the mean a few pixels outside,
    at every outline pixel."""
    mask = product.astype(np.uint8)
    outline = (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0) & ~product
    outline[0], outline[-1], outline[:, 0], outline[:, -1] = False, False, False, False
    if not outline.any():
        return Reason("edge_without_contrast", 1.0, "")
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    inside = (cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0) & ~(cv2.erode(mask, ring) > 0)
    outside = (cv2.dilate(mask, ring) > 0) & ~(cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0)
    mean_in = _masked_mean(image, inside, 9)
    mean_out = _masked_mean(image, outside, 9)
    contrast = np.abs(mean_in - mean_out).max(axis=2)[outline]
    flat = float((contrast < EDGE_CONTRAST).mean())
    return Reason("edge_without_contrast", _ramp(flat, FLAT_EDGE_DOUBT, FLAT_EDGE_FAIL),
                  f"{flat:.0%} of the outline has no contrast with the background")


def _masked_mean(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    weight = cv2.blur(mask.astype(np.float32), (size, size))
    total = cv2.blur(image * mask[..., None], (size, size))
    return total / np.maximum(weight, 1e-6)[..., None]
