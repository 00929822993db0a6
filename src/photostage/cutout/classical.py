"""Classical cut-out for opaque catalog photos: backdrop model, GrabCut, closed-form matting.

Most catalog photos arrive as JPEGs of a product on a white, grey, gradient or textured backdrop.
No model weights are needed to separate them:

1. shrink to a working size (at most 512 px on the long side: GrabCut costs ~4 s at 1024 px);
2. fit a backdrop model (quadratic colour surface + noise level) to the border band;
3. a first mask from the distance to the model; soft floor shadows and backdrop seen through
   enclosed holes (a mug handle) are backdrop; near-white highlights and labels stay product;
4. GrabCut decides the boundary band at working size;
5. at full size, closed-form matting (pymatting) of a narrow band around the upscaled boundary, or
   a colour guided filter when pymatting is not installed;
6. decontaminate edge colours so no halo of the old backdrop shows on a new scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from photostage.cutout.background import BackgroundModel, fit_background
from photostage.cutout.base import Cutout, alpha_box
from photostage.cutout.foreground import decontaminate
from photostage.cutout.matting import Trimap, band_radius, build_trimap, matte, resolve_method
from photostage.cutout.matting import warm_up as warm_up_matting
from photostage.cutout.segmentation import (
    CoarseMask,
    certain_product,
    find_holes,
    gather_evidence,
    grabcut_refine,
    keep_substantial,
    outside_region,
)

MattingChoice = Literal["auto", "closed_form", "guided"]
MIN_WORK_SIDE = 96  # a very narrow photo keeps at least this many working pixels across
BAND_BACKDROP_DISTANCE = 2.5  # noise units: a band pixel this close to the backdrop model is backdrop


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
        grabcut_iterations: int = 2,
        matting: MattingChoice = "auto",
        tile_size: int = 160,
    ) -> None:
        self.work_size = work_size
        self.grabcut_iterations = grabcut_iterations
        self.matting = resolve_method(matting)
        self.tile_size = tile_size

    def available(self) -> bool:
        return True

    def warm_up(self) -> None:
        """Load (or compile) pymatting's numba kernels now, so the first cut-out is not the slow one."""
        if self.matting == "closed_form":
            warm_up_matting()

    def extract(self, rgba: np.ndarray) -> Cutout:
        rgb = np.ascontiguousarray(rgba[..., :3])
        height, width = rgb.shape[:2]
        work = prepare_working_image(rgb, self.work_size)
        coarse = segment(work, self.grabcut_iterations)
        if not coarse.product.any():
            return _whole_frame(rgba, self.name)
        work_h, work_w = coarse.product.shape
        radius = band_radius((width, height), (work_w, work_h))
        trimap = build_trimap(coarse.product, (width, height), radius)
        trimap = trimap.settle_background(backdrop_in_band(rgb, trimap, work.backdrop))
        alpha = matte(rgb, trimap, self.matting, radius, self.tile_size)
        alpha = _respect_input_alpha(alpha, rgba[..., 3])
        result = decontaminate(rgb, alpha, radius)
        return Cutout(rgba=result, box=alpha_box(result[..., 3]), engine=self.name)


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
        smooth = cv2.GaussianBlur(smooth, (0, 0), 2.0)
        backdrop = fit_background(smooth, band)
    return WorkingImage(image=np.ascontiguousarray(image), smooth=smooth, backdrop=backdrop, band=band)


def segment(work: WorkingImage, grabcut_iterations: int) -> CoarseMask:
    """Steps 3-4 at working size: the product mask, its enclosed holes and the outside backdrop."""
    height, width = work.smooth.shape[:2]
    min_area = max(6, int(0.0004 * height * width))
    evidence = gather_evidence(work.image, work.smooth, work.backdrop, work.band)
    outside = outside_region(evidence, work.band)
    holes = find_holes(evidence, outside, min_area)
    first = keep_substantial(~outside & ~holes, 0.03, 4 * min_area)
    sure_band = 3 if work.backdrop.kind != "textured" else 6
    certain = certain_product(first, evidence)
    refined = grabcut_refine(work.image, first, certain, sure_band, grabcut_iterations)
    product = keep_substantial(refined, 0.03, 4 * min_area)
    return CoarseMask(product=product, holes=holes, outside=outside)


def backdrop_in_band(rgb: np.ndarray, trimap: Trimap, backdrop: BackgroundModel) -> np.ndarray:
    """Unknown-band pixels outside the coarse mask whose colour is the backdrop model's own: known
    background for the matting (evaluated at the band pixels only, so it is cheap at 4 MP)."""
    height, width = trimap.unknown.shape
    candidates = trimap.unknown & ~trimap.coarse
    ys, xs = np.nonzero(candidates)
    settled = np.zeros_like(candidates)
    if ys.size == 0:
        return settled
    predicted = backdrop.at(xs / max(width - 1, 1), ys / max(height - 1, 1))
    residual = (rgb[ys, xs].astype(np.float32) / 255.0 - predicted) / backdrop.noise
    backdrop_like = np.sqrt(np.mean(residual * residual, axis=1)) < BAND_BACKDROP_DISTANCE
    settled[ys[backdrop_like], xs[backdrop_like]] = True
    return settled


def _respect_input_alpha(alpha: np.ndarray, input_alpha: np.ndarray) -> np.ndarray:
    """Keep any transparency the input already had (a cut-out forced on a PNG with alpha)."""
    if input_alpha.min() < 255:
        alpha = alpha * (input_alpha.astype(np.float32) / 255.0)
    return alpha


def _whole_frame(rgba: np.ndarray, engine: str) -> Cutout:
    """Nothing separable from the backdrop: keep the whole frame rather than lose the product."""
    return Cutout(rgba=rgba.copy(), box=alpha_box(rgba[..., 3]), engine=engine)
