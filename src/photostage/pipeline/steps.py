"""The pipeline's steps: small functions over typed values, one concern each.

Each maps the failures of the part it calls to the public error catalogue, so the runner reads
as a recipe and nothing below it needs to know about HTTP.
"""

from __future__ import annotations

import numpy as np

from photostage.contract.errors import (
    IMAGE_CORRUPT,
    IMAGE_EMPTY_OBJECT,
    IMAGE_TOO_MANY_PIXELS,
    IMAGE_UNSUPPORTED,
    PhotostageError,
)
from photostage.cutout.base import Cutout, CutoutEngine, alpha_box
from photostage.cutout.registry import needs_cutout
from photostage.imaging import codecs, compose, geometry
from photostage.imaging.codecs import DecodedImage, EncodedImage, EncodeOptions
from photostage.pipeline.plan import Placement
from photostage.scenes.base import PlacedObject, RenderedScene


def decode(data: bytes, max_pixels: int, field: str) -> DecodedImage:
    try:
        return codecs.decode(data, max_pixels=max_pixels)
    except codecs.TooManyPixelsError as error:
        raise PhotostageError(IMAGE_TOO_MANY_PIXELS, details={field: [str(error)]}) from None
    except codecs.UnsupportedImageError as error:
        raise PhotostageError(IMAGE_UNSUPPORTED, details={field: [str(error)]}) from None
    except codecs.ImageError as error:
        raise PhotostageError(IMAGE_CORRUPT, details={field: [str(error)]}) from None


def cut_out(image: DecodedImage, engine: CutoutEngine, mode: str, requested: bool | None) -> Cutout:
    if needs_cutout(image.has_alpha, mode, requested):  # type: ignore[arg-type]
        cutout = engine.extract(image.rgba)
    else:
        cutout = Cutout(rgba=image.rgba, box=alpha_box(image.rgba[..., 3]), engine="alpha")
    x0, y0, x1, y1 = cutout.box
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise PhotostageError(
            IMAGE_EMPTY_OBJECT, details={"object.image_url": ["the image is fully transparent"]}
        )
    return cutout


def place_object(cutout: Cutout, placement: Placement, canvas: tuple[int, int]) -> PlacedObject:
    """Crop to the object's box, rotate, fit per the placement, and paste on a canvas-sized layer."""
    frame = (cutout.rgba.shape[1], cutout.rgba.shape[0])
    obj = compose.crop(cutout.rgba, cutout.box)
    if placement.mode == "absolute":
        obj = compose.rotate(obj, placement.rotation)
        # Rotation may leave transparent margins: measure the box of what is really there.
        obj = compose.crop(obj, alpha_box(obj[..., 3]))
        box = geometry.absolute_box((obj.shape[1], obj.shape[0]), canvas, placement.scale, placement.position)
    elif placement.mode == "original":
        box = geometry.original_box(cutout.box, frame, canvas)
    else:
        assert placement.padding is not None
        margins = placement.padding.fractions(canvas[0], canvas[1])
        box = geometry.padding_box((obj.shape[1], obj.shape[0]), canvas, margins)
    width, height = max(1, round(box.width)), max(1, round(box.height))
    resized = compose.resize(obj, width, height)
    layer = compose.place(resized, canvas[0], canvas[1], round(box.left), round(box.top))
    placed_box = alpha_box(layer[..., 3])
    if placed_box[2] <= placed_box[0]:
        raise PhotostageError(
            IMAGE_EMPTY_OBJECT, details={"object.position": ["the object is placed entirely off the canvas"]}
        )
    return PlacedObject(rgba=layer, box=placed_box)


def finish(rendered: RenderedScene, product: PlacedObject) -> np.ndarray:
    """Composite the product over the scene; opaque product pixels come out exactly as placed."""
    layer = compose.light_wrap(product.rgba, rendered.background, rendered.light_wrap, box=product.box)
    return compose.composite_over(rendered.background, layer, product.box)


def encode(pixels: np.ndarray, options: EncodeOptions) -> EncodedImage:
    return codecs.encode(pixels, options)
