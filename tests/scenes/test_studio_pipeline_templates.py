"""Template scenes and prompt reports through `POST /v1/scene/create`: the template is read once,
the product stands on its surface, harmonisation is opt-in, unused prompt words are reported."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from PIL import Image

from photostage.imaging.analysis import analyse_scene
from photostage.imaging.codecs import decode

from ..conftest import data_uri, png_bytes  # noqa: TID252


def _photo(name: str) -> np.ndarray | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / name
    return decode(path.read_bytes(), max_pixels=10**8).rgba[..., :3] if path.is_file() else None


MAGENTA = (255, 0, 255)


def _product() -> np.ndarray:
    """A pure-magenta bottle (a colour no template has), opaque, with a soft edge."""
    rgba = np.zeros((300, 120, 4), np.uint8)
    cv2.rectangle(rgba, (10, 90), (109, 299), (*MAGENTA, 255), -1)
    cv2.rectangle(rgba, (40, 10), (79, 90), (*MAGENTA, 255), -1)
    return rgba


def _create(client, auth, body):  # type: ignore[no-untyped-def]
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    images = []
    for output in data["output"]:
        parts = urlsplit(output["tmp_url"])
        fetched = client.get(f"{parts.path}?{parts.query}")
        images.append(np.asarray(Image.open(io.BytesIO(fetched.content)).convert("RGB")))
    return data, images


def _magenta_rows(image: np.ndarray) -> np.ndarray:
    is_product = (image[..., 0] > 240) & (image[..., 1] < 15) & (image[..., 2] > 240)
    return np.flatnonzero(is_product.any(axis=1))


@pytest.mark.parametrize("name", ["motorcycle_left.png", "rocket.jpg"])
def test_with_no_position_the_product_stands_on_the_detected_support_line(client, auth, name: str) -> None:
    template = _photo(name)
    if template is None:
        pytest.skip("scikit-image's sample photos are not installed")
    facts = analyse_scene(template)
    body = {
        "object": {"image_url": data_uri(png_bytes(_product())), "scale": 0.4},
        "scene": {
            "template_url": data_uri(png_bytes(np.dstack([template, np.full(template.shape[:2], 255, np.uint8)]))),
            "template_mode": "lock",
            "view": "front",
            "seed": 1,
        },
        "output": {"number_of_images": 1, "format": "png"},
    }
    _, (image,) = _create(client, auth, body)
    lowest = int(_magenta_rows(image)[-1]) + 1
    assert abs(lowest - facts.support_row * image.shape[0]) <= 0.02 * image.shape[0]


def _room() -> np.ndarray:
    room = np.zeros((480, 640, 4), np.uint8)
    room[..., 3] = 255
    room[:260, :, :3] = (180, 170, 150)
    room[260:, :, :3] = (110, 84, 64)
    rng = np.random.default_rng(1)
    room[..., :3] = np.clip(room[..., :3] + rng.normal(0, 6, (480, 640, 1)), 0, 255).astype(np.uint8)
    return room


def test_a_position_on_the_floor_is_kept_and_a_top_view_is_not_moved(client, auth) -> None:
    room = data_uri(png_bytes(_room()))
    product = data_uri(png_bytes(_product()))
    on_floor = {
        "object": {"image_url": product, "scale": 0.3, "position": {"x": 0.3, "y": 0.75}},
        "scene": {"template_url": room, "template_mode": "lock", "view": "front", "seed": 1},
        "output": {"number_of_images": 1, "format": "png"},
    }
    _, (kept,) = _create(client, auth, on_floor)
    rows = _magenta_rows(kept)
    assert abs((rows[0] + rows[-1] + 1) / 2 - 0.75 * kept.shape[0]) <= 2  # where it was asked to be
    floating = dict(on_floor, object={"image_url": product, "scale": 0.3, "position": {"x": 0.3, "y": 0.25}})
    _, (moved,) = _create(client, auth, floating)
    assert _magenta_rows(moved)[-1] > 0.54 * moved.shape[0]  # stood on the floor, not in front of the wall
    top = dict(floating, scene=dict(floating["scene"], view="top"))
    _, (as_asked,) = _create(client, auth, top)
    rows = _magenta_rows(as_asked)
    assert abs((rows[0] + rows[-1] + 1) / 2 - 0.25 * as_asked.shape[0]) <= 2


def test_harmonisation_is_opt_in(client, auth) -> None:
    product = np.zeros((300, 120, 4), np.uint8)
    cv2.rectangle(product, (10, 10), (109, 289), (200, 200, 200, 255), -1)
    warm = _room()
    warm[..., :3] = (warm[..., :3].astype(np.float32) * np.asarray([1.0, 0.8, 0.55])).astype(np.uint8)
    body = {
        "object": {"image_url": data_uri(png_bytes(product)), "scale": 0.4},
        "scene": {"template_url": data_uri(png_bytes(warm)), "template_mode": "lock", "view": "front", "seed": 1},
        "output": {"number_of_images": 1, "format": "png"},
    }
    _, (exact,) = _create(client, auth, body)
    grey = np.all(exact == 200, axis=2)
    assert grey.sum() > 10_000  # the product's own pixels, exactly
    body["scene"]["harmonize"] = {"strength": 0.8}
    _, (harmonised,) = _create(client, auth, body)
    inside = harmonised[grey].astype(np.float32).mean(axis=0)
    assert inside[0] > inside[2] + 10  # it took the room's warm light


def test_the_response_names_the_prompt_words_the_engine_did_not_use(client, auth, product_uri) -> None:
    body = {
        "object": {"image_url": product_uri, "scale": 0.5},
        "scene": {"prompt": "marble podium, shot on a hasselblad", "preference": "fast", "seed": 2},
        "output": {"number_of_images": 1, "format": "jpeg"},
    }
    data, _ = _create(client, auth, body)
    assert "hasselblad" in data["profiling"]["prompt_unused_words"]
    assert "marble" not in data["profiling"]["prompt_unused_words"]
    assert data["profiling"]["prompt_reading"] in ("embedding", "keywords")
    assert isinstance(data["profiling"]["render"], float)
