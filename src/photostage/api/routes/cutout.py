"""`POST /v1/cutout/preview` (extension): the cut-out the scene pipeline will use for an input,
made by the same steps (fetch, decode, cut out), returned as a box and a mask, before anything
is generated. Authenticated like every API call; errors in the contract's format, including a
cut-out refusal, so a client learns of it before it asks for a scene."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from fastapi import APIRouter

from photostage.api.deps import PrincipalDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.cutout import CutoutPreviewIn, CutoutPreviewOut, Response_CutoutPreviewOut_
from photostage.pipeline import steps

MASK_MAX_SIDE = 1024

router = APIRouter(prefix="/v1/cutout", tags=["Cut-out"])


def mask_png(alpha: np.ndarray) -> tuple[str, tuple[int, int]]:
    """The alpha as a greyscale PNG data: URI, shrunk (area average) to at most MASK_MAX_SIDE."""
    height, width = alpha.shape
    shrink = min(1.0, MASK_MAX_SIDE / max(width, height))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    small = alpha if shrink == 1.0 else cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".png", small, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    return "data:image/png;base64," + base64.b64encode(buffer.tobytes()).decode(), size


@router.post("/preview", operation_id="cutout_preview", response_model=Response_CutoutPreviewOut_,
             responses=ERROR_RESPONSES)
def cutout_preview(body: CutoutPreviewIn, principal: PrincipalDep, services: ServicesDep) -> Response_CutoutPreviewOut_:
    """What the scene pipeline will cut out of this image: the product's box and its mask."""
    settings = services.settings
    runner = services.runner
    data = runner.read_source(body.image_url, principal.account_id, "image_url")
    image = steps.decode_image(data, settings.limits.max_input_pixels, "image_url")
    cutout = steps.extract(image, runner.cutout_engine, settings.cutout.mode, body.remove_background)
    minimum = settings.cutout.min_confidence if body.min_cutout_confidence is None else body.min_cutout_confidence
    confidence = steps.inspect_cutout(image, cutout, minimum, field="image_url")
    height, width = cutout.rgba.shape[:2]
    removed = cutout.engine != "alpha"
    mask, mask_size = mask_png(np.ascontiguousarray(cutout.rgba[..., 3]))
    box = tuple(int(value) for value in cutout.box)
    return Response_CutoutPreviewOut_(data=CutoutPreviewOut(
        width=width, height=height, box=box, removed=removed, engine=cutout.engine,
        mask=mask, mask_size=mask_size, confidence=round(confidence.score, 3),
        reasons=[reason.message for reason in confidence.reasons],
    ))
