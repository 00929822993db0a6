"""`POST /v1/cutout/preview`: the same cut-out the pipeline makes, as a box and a mask."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from ..conftest import data_uri, make_product, png_bytes  # noqa: TID252


def decode_mask(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_a_transparent_input_previews_its_alpha_box(client, auth):  # type: ignore[no-untyped-def]
    rgba = np.zeros((400, 300, 4), np.uint8)
    rgba[50:350, 60:240] = make_product(180, 300)
    response = client.post("/v1/cutout/preview", json={"image_url": data_uri(png_bytes(rgba))}, headers=auth)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["width"], data["height"], data["removed"], data["engine"]) == (300, 400, False, "alpha")
    ys, xs = np.nonzero(rgba[..., 3])
    assert data["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    mask = decode_mask(data["mask"])
    assert mask.shape == (400, 300) and np.array_equal(mask, rgba[..., 3])


def test_an_opaque_photo_is_cut_out_and_removal_can_be_turned_off(client, auth):  # type: ignore[no-untyped-def]
    product = make_product(120, 200)
    photo = np.full((400, 400, 4), 255, np.uint8)
    alpha = product[..., 3:4].astype(np.float32) / 255
    photo[100:300, 140:260, :3] = (product[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    uri = data_uri(png_bytes(photo))
    cut = client.post("/v1/cutout/preview", json={"image_url": uri}, headers=auth).json()["data"]
    assert cut["removed"] is True and cut["engine"] != "alpha"
    ys, xs = np.nonzero(product[..., 3] > 127)
    expected = (140 + xs.min(), 100 + ys.min(), 140 + xs.max() + 1, 100 + ys.max() + 1)
    assert all(abs(got - want) <= 4 for got, want in zip(cut["box"], expected, strict=True)), (cut["box"], expected)
    kept = client.post("/v1/cutout/preview", json={"image_url": uri, "remove_background": False},
                       headers=auth).json()["data"]
    assert kept["removed"] is False and kept["box"] == [0, 0, 400, 400]


def test_preview_needs_a_key_and_reports_contract_errors(client, auth):  # type: ignore[no-untyped-def]
    body = {"image_url": "data:image/png;base64,AAAA"}
    assert client.post("/v1/cutout/preview", json=body).status_code == 401
    refused = client.post("/v1/cutout/preview", json=body, headers=auth)
    assert refused.status_code == 400
    assert set(refused.json()) == {"error_code", "error_type", "error_message", "error_details"}
    typo = client.post("/v1/cutout/preview", json={"image_uri": "x"}, headers=auth)
    assert typo.status_code == 422 and "image_uri" in typo.json()["error_details"]


def test_large_masks_are_shrunk(client, auth):  # type: ignore[no-untyped-def]
    rgba = np.zeros((1500, 3000, 4), np.uint8)
    rgba[100:1400, 1000:2000, 3] = 255
    data = client.post("/v1/cutout/preview", json={"image_url": data_uri(png_bytes(rgba))},
                       headers=auth).json()["data"]
    assert data["mask_size"] == [1024, 512] and data["box"] == [1000, 100, 2000, 1400]
