"""Classical cut-out for opaque catalog photos: backdrop model, flood fill, band matting.

Most catalog photos arrive as JPEGs of a product on a white, grey, gradient or textured backdrop.
No model weights are needed to separate them:

1. shrink to a working size (at most 512 px on the long side); photos above ``MATTE_MAX_PIXELS``
   are matted at that size and the alpha upsampled, so a 36 MP photo costs what a 4 MP one does;
2. fit a backdrop model (quadratic colour surface + noise level) to the border band;
3. the outside is the backdrop's own colour flooded from the border, never through a pale product
   or a one-pixel seam; soft floor shadows and backdrop seen through holes join it
   (``segmentation``);
4. at full size, a band around the upscaled boundary is matted: pixels of the backdrop's own colour
   and the dark cores of thin parts are settled, the rest unmixed between the local product and
   backdrop colours (colour line + guided filter) and, where the mask is pixel-accurate,
   closed-form matting (pymatting) of the pixels left mixed;
5. decontaminate edge colours so no halo of the old backdrop shows on a new scene.

Nothing draws random numbers: the same pixels give the same alpha, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from photostage.cutout.background import BackgroundModel, fit_background
from photostage.cutout.base import Cutout, alpha_box
from photostage.cutout.foreground import decontaminate
from photostage.cutout.matting import MattingMethod, Trimap, band_radii, build_trimap, matte, resolve_method
from photostage.cutout.matting import warm_up as warm_up_matting
from photostage.cutout.segmentation import (
    CoarseMask,
    find_holes,
    gather_evidence,
    keep_substantial,
    mirror_reflection,
    outside_region,
    soft_shadows,
)

MattingChoice = Literal["auto", "closed_form", "guided"]
MATTE_MAX_PIXELS = 4_200_000  # larger photos are matted at this size and the alpha upsampled
MIN_WORK_SIDE = 96  # a very narrow photo keeps at least this many working pixels across
BAND_BACKDROP_DISTANCE = 2.5  # noise units: a band pixel this close to the backdrop model is backdrop
THIN_BAND_DIVISOR = 4  # the border strip tried when the usual band looks textured
BAND_CLEAR_PRODUCT = 0.25  # RMS colour distance (0-1) from the backdrop beyond JPEG ringing: product


@dataclass(frozen=True)
class WorkingImage:
    """The photo reduced for segmentation, with the backdrop model fitted to it."""

    image: np.ndarray  # (h, w, 3) uint8
    smooth: np.ndarray  # (h, w, 3) float32 in [0, 1], lightly blurred against noise and JPEG blocks
    backdrop: BackgroundModel
    band: int  # width of the border band the backdrop was learned from


class ClassicalEngine:
    """Cut-out without neural networks; always available (pymatting only sharpens the edges)."""

    name = "classical"

    def __init__(
        self,
        work_size: int = 512,
        matting: MattingChoice = "auto",
        tile_size: int = 160,
        matte_max_pixels: int = MATTE_MAX_PIXELS,
    ) -> None:
        self.work_size = work_size
        self.matting = matting
        self.closed_form = resolve_method(matting) == "closed_form"
        self.tile_size = tile_size
        self.matte_max_pixels = matte_max_pixels

    def available(self) -> bool:
        return True

    def warm_up(self) -> None:
        """Load (or compile) pymatting's numba kernels now, so the first cut-out is not the slow one."""
        if self.closed_form:
            warm_up_matting()

    def extract(self, rgba: np.ndarray) -> Cutout:
        rgb = np.ascontiguousarray(rgba[..., :3])
        found = self.alpha(rgb)
        if found is None:
            return _whole_frame(rgba, self.name)
        alpha, radius = found
        alpha = _respect_input_alpha(alpha, rgba[..., 3])
        result = decontaminate(rgb, alpha, radius)
        return Cutout(rgba=result, box=alpha_box(result[..., 3]), engine=self.name)

    def alpha(self, rgb: np.ndarray) -> tuple[np.ndarray, int] | None:
        """Steps 1-4 for ``rgb`` (H, W, 3) uint8: the alpha (float32 in [0, 1] at full size) and the
        radius of its edge band in full-size pixels, or None when nothing stands out from the backdrop."""
        height, width = rgb.shape[:2]
        matte_rgb = _capped(rgb, self.matte_max_pixels)
        matte_h, matte_w = matte_rgb.shape[:2]
        work = prepare_working_image(matte_rgb, self.work_size)
        coarse = segment(work)
        if not coarse.product.any():
            return None
        work_h, work_w = coarse.product.shape
        inner, outer = band_radii((matte_w, matte_h), (work_w, work_h))
        trimap = build_trimap(coarse.product, (matte_w, matte_h), inner, outer)
        trimap = trimap.settle(*classify_band(matte_rgb, trimap, work.backdrop))
        alpha = matte(matte_rgb, trimap, self._method(matte_w, work_w), outer, self.tile_size)
        radius = outer
        if (matte_w, matte_h) != (width, height):
            alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
            radius = int(math.ceil(outer * width / matte_w))
        return alpha, radius

    def _method(self, matte_width: int, work_width: int) -> MattingMethod:
        """Closed-form matting where the coarse mask is pixel-accurate (the photo is no larger than
        the working size): there it recovers sub-pixel soft edges. On a shrunken photo the band is
        several pixels wide and the colour-line estimate is as accurate and sharper (measured on the
        1-2 MP real photos), so ``auto`` uses it there; ``closed_form`` forces the solve."""
        if not self.closed_form:
            return "guided"
        if self.matting == "auto" and matte_width > work_width:
            return "guided"
        return "closed_form"


def _capped(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """The photo itself, or an area-averaged copy of at most ``max_pixels`` when it is larger: the
    matte of a 36 MP photo is solved at about 4 MP and upsampled, so cost and memory stay bounded."""
    height, width = rgb.shape[:2]
    if height * width <= max_pixels:
        return rgb
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(int(width * scale), 1), max(int(height * scale), 1))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def prepare_working_image(rgb: np.ndarray, work_size: int) -> WorkingImage:
    """Steps 1-2: shrink (area averaging) to ``work_size`` on the long side, or less shrinking for a
    very narrow photo, blur lightly, and learn the backdrop from the borders."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max(work_size / max(height, width), MIN_WORK_SIDE / min(height, width)))
    size = (max(int(round(width * scale)), 8), max(int(round(height * scale)), 8))
    image = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(image.astype(np.float32) / 255.0, (0, 0), 1.0)
    band = max(2, min(int(round(0.03 * max(size))), min(size) // 8))  # a thin strip on narrow photos
    backdrop = fit_background(smooth, band)
    if backdrop.kind == "textured":
        # A tightly framed product reaches into the border band, over half of it: the outermost
        # strip alone may still show a plain backdrop.
        thin = max(2, band // THIN_BAND_DIVISOR)
        outermost = fit_background(smooth, thin)
        if outermost.kind != "textured":
            return WorkingImage(image=np.ascontiguousarray(image), smooth=smooth, backdrop=outermost, band=thin)
        smooth = cv2.GaussianBlur(smooth, (0, 0), 2.0)
        backdrop = fit_background(smooth, band)
    return WorkingImage(image=np.ascontiguousarray(image), smooth=smooth, backdrop=backdrop, band=band)


def segment(work: WorkingImage) -> CoarseMask:
    """Steps 3-4 at working size: the product mask, the shadows and holes taken out of it, and the
    outside backdrop."""
    height, width = work.smooth.shape[:2]
    min_area = max(6, int(0.0004 * height * width))
    evidence = gather_evidence(work.smooth, work.backdrop, work.band)
    outside = outside_region(evidence, work.band)
    shadows = soft_shadows(evidence, outside, min_area)
    outside = outside | shadows
    holes = find_holes(evidence, outside, min_area)
    product = keep_substantial(~outside & ~holes, 0.03, 4 * min_area)
    reflection = mirror_reflection(evidence, product)
    if reflection.any():
        shadows = shadows | reflection
        outside = outside | reflection
        product = keep_substantial(product & ~reflection, 0.03, 4 * min_area)
    return CoarseMask(product=product, holes=holes, shadows=shadows, outside=outside)


def classify_band(rgb: np.ndarray, trimap: Trimap, backdrop: BackgroundModel) -> tuple[np.ndarray, np.ndarray]:
    """Band pixels whose colour settles them before matting: outside the coarse mask and the
    backdrop model's own colour (known background), or inside it and unmistakably unlike the
    backdrop, a pixel away from anything that is not (known product: the dark core of a strap
    narrower than the band). The colours are read at the band pixels only, so it is cheap at 4 MP."""
    height, width = trimap.unknown.shape
    ys, xs = np.nonzero(trimap.unknown)
    background = np.zeros_like(trimap.unknown)
    foreground = np.zeros_like(trimap.unknown)
    if ys.size == 0:
        return background, foreground
    predicted = backdrop.at(xs / max(width - 1, 1), ys / max(height - 1, 1))
    offset = rgb[ys, xs].astype(np.float32) / 255.0 - predicted
    distance = np.sqrt(np.mean((offset / backdrop.noise) ** 2, axis=1))
    inside = trimap.coarse[ys, xs]
    backdrop_like = ~inside & (distance < BAND_BACKDROP_DISTANCE)
    clear = inside & (np.sqrt(np.mean(offset * offset, axis=1)) > BAND_CLEAR_PRODUCT)
    background[ys[backdrop_like], xs[backdrop_like]] = True
    foreground[ys[clear], xs[clear]] = True
    # An edge pixel half covered by a dark product is far from the backdrop too: only the core of a
    # clear run, a pixel away from anything less clear, is known product.
    foreground = cv2.erode(foreground.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return background, foreground


def _respect_input_alpha(alpha: np.ndarray, input_alpha: np.ndarray) -> np.ndarray:
    """Keep any transparency the input already had (a cut-out forced on a PNG with alpha)."""
    if input_alpha.min() < 255:
        alpha = alpha * (input_alpha.astype(np.float32) / 255.0)
    return alpha


def _whole_frame(rgba: np.ndarray, engine: str) -> Cutout:
    """Nothing separable from the backdrop: keep the whole frame rather than lose the product."""
    return Cutout(rgba=rgba.copy(), box=alpha_box(rgba[..., 3]), engine=engine)
