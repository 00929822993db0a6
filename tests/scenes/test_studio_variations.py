"""Variations: `number_of_images` > 1 gives distinct pictures for every scene type, the same ones
again for the same seed, and the product's own pixels identical in all of them."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from photostage.cutout.base import Cutout, alpha_box
from photostage.pipeline.plan import Placement
from photostage.pipeline.steps import place_object

from ..conftest import data_uri, png_bytes  # noqa: TID252


def _template() -> np.ndarray:
    """A small room: a wall over a floor, a frame on the wall (RGBA)."""
    room = np.zeros((300, 400, 4), np.uint8)
    room[..., 3] = 255
    room[:170, :, :3] = (178, 168, 150)
    room[170:, :, :3] = (120, 92, 70)
    room[40:110, 60:150, :3] = (60, 80, 110)
    return room


SCENES: dict[str, dict[str, object]] = {
    "effect": {"effect": "shadows"},
    "lock": {"template_mode": "lock", "view": "front"},
    "adjust": {"template_mode": "adjust", "prompt": "warm light", "view": "front"},
    "transform": {"template_mode": "transform", "prompt": "concrete floor", "view": "front"},
    "prompt": {"prompt": "on a wooden table, soft light", "preference": "fast"},
}


def _body(kind: str, product_uri: str, template_uri: str, seed: int) -> dict[str, object]:
    scene = dict(SCENES[kind], seed=seed)
    if kind in ("lock", "adjust", "transform"):
        scene["template_url"] = template_uri
    return {
        "object": {"image_url": product_uri, "scale": 0.45, "position": {"x": 0.5, "y": 0.55}},
        "scene": scene,
        "output": {"number_of_images": 4, "format": "png"},
    }


def _images(client, auth, body) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 200, response.text
    images = []
    for output in response.json()["data"]["output"]:
        parts = urlsplit(output["tmp_url"])
        fetched = client.get(f"{parts.path}?{parts.query}")
        assert fetched.status_code == 200
        images.append(np.asarray(Image.open(io.BytesIO(fetched.content)).convert("RGB")))
    return images


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SCENES))
def test_four_images_are_four_pictures_of_the_same_product(client, auth, product_rgba, kind: str) -> None:
    product_uri = data_uri(png_bytes(product_rgba))
    template_uri = data_uri(png_bytes(_template()))
    images = _images(client, auth, _body(kind, product_uri, template_uri, seed=11))
    digests = {hashlib.sha256(image.tobytes()).hexdigest() for image in images}
    assert len(digests) == 4, f"{kind}: only {len(digests)} distinct images of 4"
    # Exactly the product's pixels, where it was asked to be, in every image.
    first = images[0].astype(np.int16)
    placed = place_object(
        Cutout(rgba=product_rgba, box=alpha_box(product_rgba[..., 3]), engine="alpha"),
        Placement(mode="absolute", scale=0.45, position=(0.5, 0.55)),
        (first.shape[1], first.shape[0]),
    )
    opaque = placed.rgba[..., 3] == 255
    assert opaque.sum() > 1000
    for image in images:
        assert np.array_equal(image[opaque], placed.rgba[..., :3][opaque])
    # Visibly different, not a few changed pixels: the backgrounds differ somewhere by a clear step.
    for index in range(1, 4):
        assert np.abs(images[index].astype(np.int16) - first).max() >= 8
    again = _images(client, auth, _body(kind, product_uri, template_uri, seed=11))
    assert [image.tobytes() for image in again] == [image.tobytes() for image in images]
