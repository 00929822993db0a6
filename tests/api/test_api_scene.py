"""`POST /v1/scene/create` end to end: every scene kind, placement, output format and error."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from photostage.imaging import compose

from ..conftest import data_uri, local_namespace, make_product, png_bytes  # noqa: TID252


def create(client, auth, body):  # type: ignore[no-untyped-def]
    return client.post("/v1/scene/create", json=body, headers=auth)


def fetch_tmp(client, url: str) -> bytes:  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return response.content


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def effect_body(product_uri: str, **output: object) -> dict[str, object]:
    return {"object": {"image_url": product_uri, "scale": 0.5},
            "scene": {"effect": "shadows", "seed": 1},
            "output": {"number_of_images": 1, "format": "png", **output}}


def test_effect_scene_returns_images_of_the_right_size(client, auth, product_uri):
    response = create(client, auth, {"object": {"image_url": product_uri}, "scene": {"effect": "shadows"},
                                     "output": {"number_of_images": 2, "format": "png"}})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"]
    data = response.json()["data"]
    assert data["input"] == {"ext": "png", "mps": 0.06, "mime": "image/png", "format": "PNG",
                             "width": 200, "height": 300}
    assert len(data["output"]) == 2
    for output in data["output"]:
        assert (output["width"], output["height"]) == (1024, 1024)
        assert output["format"] == "PNG" and output["mime"] == "image/png" and output["ext"] == "png"
        assert output["mps"] == pytest.approx(1.048576)
        image = decode(fetch_tmp(client, output["tmp_url"]))
        assert image.shape == (1024, 1024, 4)
    assert set(data["profiling"]) >= {"plan", "fetch", "decode", "cutout", "render", "encode", "store"}


def test_default_output_is_four_pngs(client, auth, product_uri):
    response = create(client, auth, {"object": {"image_url": product_uri},
                                     "scene": {"effect": "shadows", "aspect_ratio": "16:9"}})
    assert response.status_code == 200, response.text
    outputs = response.json()["data"]["output"]
    assert len(outputs) == 4
    assert all(o["format"] == "PNG" and o["width"] > o["height"] for o in outputs)


@pytest.mark.parametrize("ratio", ["4:7", "7:9", "4:5", "1:1", "9:7", "19:13", "7:4", "16:9", "12:5",
                                   "21:9", "4:3", "3:2", "2:3", "5:4", "3:4", "9:16"])
def test_every_aspect_ratio(client, auth, product_uri, ratio):
    body = effect_body(product_uri, format="jpeg")
    body["scene"]["aspect_ratio"] = ratio
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    output = response.json()["data"]["output"][0]
    rw, rh = (int(x) for x in ratio.split(":"))
    assert output["width"] % 8 == 0 and output["height"] % 8 == 0
    assert abs(output["width"] / output["height"] - rw / rh) < 0.02
    assert 0.9 < output["width"] * output["height"] / 1024**2 < 1.1


def test_product_pixels_are_exact_inside_the_mask(client, auth):
    from photostage.cutout.base import alpha_box

    product = make_product(256, 360)
    product = np.ascontiguousarray(compose.crop(product, alpha_box(product[..., 3])))
    height, width = product.shape[:2]
    product = np.ascontiguousarray(product[: height - height % 2, : width - width % 2])
    height, width = product.shape[:2]
    # Scale so the object box is exactly its own size: no resampling, so the output must hold
    # the input's opaque pixels bit for bit.
    body = {"object": {"image_url": data_uri(png_bytes(product)), "scale": max(width, height) / 1024},
            "scene": {"effect": "shadows", "color": "#202020"},
            "output": {"number_of_images": 1, "format": "png"}}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    out = decode(fetch_tmp(client, response.json()["data"]["output"][0]["tmp_url"]))
    top, left = 512 - height // 2, 512 - width // 2
    placed = out[top : top + height, left : left + width]
    opaque = product[..., 3] == 255
    assert opaque.sum() > 10000
    assert np.array_equal(placed[..., :3][opaque], product[..., :3][opaque])


def test_product_pixels_exact_after_rotation_and_scaling(client, auth, product_rgba, app):
    """With resampling, the guarantee is that the composite keeps the placed layer's opaque pixels."""
    from photostage.cutout.base import Cutout, alpha_box
    from photostage.pipeline.plan import Placement
    from photostage.pipeline.steps import place_object

    body = {"object": {"image_url": data_uri(png_bytes(product_rgba)), "scale": 0.6, "rotation_degree": 30,
                       "position": {"x": 0.4, "y": 0.55}},
            "scene": {"prompt": "marble countertop, bokeh, golden hour", "seed": 3},
            "output": {"number_of_images": 1, "format": "png"}}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    out = decode(fetch_tmp(client, response.json()["data"]["output"][0]["tmp_url"]))
    cutout = Cutout(rgba=product_rgba, box=alpha_box(product_rgba[..., 3]), engine="alpha")
    placed = place_object(cutout, Placement("absolute", 30, 0.6, (0.4, 0.55)), (1024, 1024)).rgba
    opaque = placed[..., 3] == 255
    assert opaque.sum() > 50000
    assert np.array_equal(out[..., :3][opaque], placed[..., :3][opaque])


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [("png", "image/png", "png"), ("jpeg", "image/jpeg", "jpeg"), ("webp", "image/webp", "webp"),
     ("avif", "image/avif", "avif"), ("tiff", "image/tiff", "tiff"),
     ({"type": "jpeg", "quality": 40, "progressive": False}, "image/jpeg", "jpeg"),
     ({"type": "png", "compression": "fast"}, "image/png", "png"),
     ({"type": "png", "compression": "best"}, "image/png", "png"),
     ({"type": "webp", "compression": "lossless"}, "image/webp", "webp"),
     ({"type": "webp", "compression": {"type": "lossy", "quality": 30}}, "image/webp", "webp"),
     ({"type": "avif", "compression": {"type": "lossless"}}, "image/avif", "avif"),
     ({"type": "avif", "compression": {"type": "lossy", "quality": 20}}, "image/avif", "avif")],
)
def test_every_output_format(client, auth, product_uri, fmt, mime, ext):
    response = create(client, auth, effect_body(product_uri, format=fmt))
    assert response.status_code == 200, response.text
    output = response.json()["data"]["output"][0]
    assert (output["mime"], output["ext"]) == (mime, ext)
    data = fetch_tmp(client, output["tmp_url"])
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)


def test_transparent_effect_has_alpha_and_a_shadow(client, auth, product_uri):
    body = effect_body(product_uri)
    body["scene"]["color"] = "transparent"
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    out = decode(fetch_tmp(client, response.json()["data"]["output"][0]["tmp_url"]))
    assert out[0, 0, 3] == 0  # far corner: fully transparent
    below = out[800:900, 300:700, 3]
    assert below.max() > 0  # the shadow is there, semi-transparent


def test_transparent_needs_an_alpha_format(client, auth, product_uri):
    body = effect_body(product_uri, format="jpeg")
    body["scene"]["color"] = "transparent"
    response = create(client, auth, body)
    assert response.status_code == 422
    assert response.json()["error_code"] == "9000"


def test_solid_colour_effect(client, auth, product_uri):
    body = effect_body(product_uri)
    body["scene"]["color"] = "#3a7"
    response = create(client, auth, body)
    out = decode(fetch_tmp(client, response.json()["data"]["output"][0]["tmp_url"]))
    assert tuple(out[5, 5, :3]) == (0x33, 0xAA, 0x77)


def test_template_lock_keeps_the_template(client, auth, product_uri):
    template = np.zeros((600, 800, 4), np.uint8)
    template[..., 0] = np.linspace(0, 255, 800)[None, :]
    template[..., 2] = 90
    template[..., 3] = 255
    body = {"object": {"image_url": product_uri, "scale": 0.3},
            "scene": {"template_url": data_uri(png_bytes(template)), "view": "front", "template_mode": "lock"},
            "output": {"number_of_images": 1, "format": "png"}}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    output = response.json()["data"]["output"][0]
    assert abs(output["width"] / output["height"] - 800 / 600) < 0.02
    out = decode(fetch_tmp(client, output["tmp_url"]))
    fitted = compose.cover_fit(template[..., :3], output["width"], output["height"])
    assert np.abs(out[:40, :, :3].astype(int) - fitted[:40].astype(int)).mean() < 2


@pytest.mark.parametrize(
    "obj",
    [{"placement_type": "original"}, {"placement_type": "padding", "padding": "10%"},
     {"placement_type": "padding", "padding": "5% 25%"}, {"rotation_degree": 45, "scale": 0.5},
     {"rotation_degree": 90}, {"rotation_degree": 360}, {"scale": 0.01}, {"scale": 1},
     {"position": {"x": 0, "y": 0}}, {"position": {"x": 1, "y": 1}}],
)
def test_every_placement(client, auth, product_uri, obj):
    body = effect_body(product_uri)
    body["object"] = {"image_url": product_uri, **obj}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text


def test_padding_margins_are_honoured(client, auth, product_uri):
    body = effect_body(product_uri)
    body["object"] = {"image_url": product_uri, "placement_type": "padding", "padding": "10%"}
    body["scene"]["shadow"] = {"enabled": False}
    body["scene"]["color"] = "#ffffff"
    out = decode(fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"]))
    product_rows = np.flatnonzero((out[..., :3] < 200).any(axis=(1, 2)))
    assert abs(product_rows[0] - 102) <= 3 and abs(product_rows[-1] - (1024 - 103)) <= 3


def test_position_origin_is_top_left(client, auth, product_uri):
    body = effect_body(product_uri)
    body["object"] = {"image_url": product_uri, "scale": 0.2, "position": {"x": 0.25, "y": 0.2}}
    body["scene"]["shadow"] = {"enabled": False}
    out = decode(fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"]))
    ys, xs = np.nonzero((out[..., :3] < 200).any(axis=2))
    assert abs(xs.mean() - 256) < 15 and abs((ys.min() + ys.max()) / 2 - 205) < 15


def test_seed_reproducible(client, auth, product_uri):
    body = {"object": {"image_url": product_uri}, "scene": {"prompt": "marble countertop", "seed": 7},
            "output": {"number_of_images": 1, "format": "png"}}
    first = fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"])
    second = fetch_tmp(client, create(client, auth, body).json()["data"]["output"][0]["tmp_url"])
    assert np.array_equal(decode(first), decode(second))


def test_prompt_scene_with_generate(client, auth, product_uri):
    body = {"object": {"image_url": product_uri},
            "scene": {"prompt": {"generate": True, "guidelines": "wooden table"}, "preference": "fast"},
            "output": {"number_of_images": 1, "format": "jpeg"}}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["output"][0]["width"] == 728  # ~0.5 MP, sides divisible by 8


def test_bare_uri_output_is_a_destination(client, auth, product_uri):
    body = {"object": {"image_url": product_uri, "scale": 0.5}, "scene": {"effect": "shadows"},
            "output": "storage://local/renders/"}
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    outputs = response.json()["data"]["output"]
    request_id = response.headers["x-request-id"]
    assert [o["object_key"].rsplit("/", 1)[-1] for o in outputs] == [f"{request_id}_{i}.png" for i in range(4)]
    assert all(o["tmp_url"] == "" and o["claid_storage_uri"].startswith("storage://local/renders/")
               for o in outputs)


def test_file_destination_naming(client, auth, product_uri, settings):
    body = effect_body(product_uri, destination="storage://local/shots/bottle.png")
    body["output"]["number_of_images"] = 2
    response = create(client, auth, body)
    assert response.status_code == 200, response.text
    keys = [o["object_key"] for o in response.json()["data"]["output"]]
    assert [k.rsplit("/", 1)[-1] for k in keys] == ["bottle_0.png", "bottle_1.png"]
    assert (local_namespace(settings) / "shots" / "bottle_0.png").exists()
    body["output"]["number_of_images"] = 1
    response = create(client, auth, body)
    assert response.json()["data"]["output"][0]["object_key"].endswith("shots/bottle.png")


def test_storage_input(client, auth, settings, product_rgba):
    root = local_namespace(settings)
    (root / "in").mkdir(parents=True)
    (root / "in" / "bottle.png").write_bytes(png_bytes(product_rgba))
    body = effect_body("storage://local/in/bottle.png")
    assert create(client, auth, body).status_code == 200


def test_unknown_storage_is_404(client, auth, product_uri):
    body = effect_body(product_uri, destination="storage://nowhere/x/")
    response = create(client, auth, body)
    assert response.status_code == 404
    assert response.json()["error_type"] == "storage"


def test_destination_must_be_a_storage_uri(client, auth, product_uri):
    response = create(client, auth, effect_body(product_uri, destination="s3://bucket/x/"))
    assert response.status_code == 422
    assert "output.destination" in response.json()["error_details"]


def test_unsafe_storage_path_refused(client, auth, product_uri):
    response = create(client, auth, effect_body(product_uri, destination="storage://local/../etc/"))
    assert response.status_code == 422
    assert response.json()["error_type"] == "storage"
