"""The cut-out quality gate through the API: a doubtful cut-out of an opaque photo is refused with
422 / 3021 and a message that says what to do, unless the request lowers
object.min_cutout_confidence; the engine and its confidence are reported in data.profiling; the
same JPEG and seed give the same bytes; an async job ends ERROR with the same body."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from photostage.config import Settings
from photostage.cutout.synthetic import render_scene

from ..conftest import data_uri  # noqa: TID252
from ..jobs.test_jobs_api import Api, open_api  # noqa: TID252
from .test_api_scene import create, fetch_tmp  # noqa: TID252


def jpeg_uri(rgb: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data_uri(encoded.tobytes(), "image/jpeg")


@pytest.fixture(scope="module")
def studio_jpeg() -> str:
    return jpeg_uri(render_scene("carton", "white", (320, 320), seed=3, tone="white").rgb)


@pytest.fixture(scope="module")
def busy_jpeg() -> str:
    return jpeg_uri(render_scene("bottle", "cluttered", (320, 320), seed=4).rgb)


def body(image_url: str, **obj: object) -> dict[str, object]:
    return {"object": {"image_url": image_url, "scale": 0.6, **obj}, "scene": {"effect": "shadows", "seed": 5},
            "output": {"number_of_images": 1, "format": "png"}}


def test_a_studio_photo_is_cut_out_and_its_confidence_reported(client, auth, studio_jpeg):  # type: ignore[no-untyped-def]
    response = create(client, auth, body(studio_jpeg))
    assert response.status_code == 200, response.text
    profiling = response.json()["data"]["profiling"]
    assert profiling["cutout_engine"] == "classical"
    assert profiling["cutout_confidence"]["confidence"] >= 0.5
    assert isinstance(profiling["cutout"], float)  # the stage timings stay milliseconds


def test_a_busy_photo_is_refused_with_what_to_do(client, auth, busy_jpeg):  # type: ignore[no-untyped-def]
    response = create(client, auth, body(busy_jpeg))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error_code"] == "3021" and error["error_type"] == "image"
    message = error["error_message"]
    for advice in ("transparent background", "photostage models add", "remove_background", "min_cutout_confidence"):
        assert advice in message
    assert error["error_details"]["object.image_url"][0].startswith("cut-out confidence 0.")


def test_a_request_may_keep_a_doubtful_cut_out(client, auth, busy_jpeg):  # type: ignore[no-untyped-def]
    response = create(client, auth, body(busy_jpeg, min_cutout_confidence=0))
    assert response.status_code == 200, response.text
    confidence = response.json()["data"]["profiling"]["cutout_confidence"]
    assert confidence["confidence"] < 0.5 and confidence["reasons"]


def test_removal_off_is_not_gated(client, auth, busy_jpeg):  # type: ignore[no-untyped-def]
    response = create(client, auth, body(busy_jpeg, remove_background=False))
    assert response.status_code == 200, response.text
    profiling = response.json()["data"]["profiling"]
    assert profiling["cutout_engine"] == "alpha" and profiling["cutout_confidence"]["confidence"] == 1.0


def test_the_server_threshold_is_a_setting(tmp_path, busy_jpeg) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, cutout={"min_confidence": 0.0})  # type: ignore[arg-type]
    for api in open_api(settings):
        assert create(api.client, api.key(), body(busy_jpeg)).status_code == 200


def test_three_identical_requests_give_identical_bytes(client, auth, studio_jpeg):  # type: ignore[no-untyped-def]
    outputs = []
    for _ in range(3):
        response = create(client, auth, body(studio_jpeg))
        assert response.status_code == 200, response.text
        outputs.append(fetch_tmp(client, response.json()["data"]["output"][0]["tmp_url"]))
    assert outputs[0] == outputs[1] == outputs[2]


def test_the_preview_reports_and_refuses_like_the_scene(client, auth, studio_jpeg, busy_jpeg):  # type: ignore[no-untyped-def]
    good = client.post("/v1/cutout/preview", json={"image_url": studio_jpeg}, headers=auth)
    assert good.status_code == 200, good.text
    assert good.json()["data"]["confidence"] >= 0.5
    bad = client.post("/v1/cutout/preview", json={"image_url": busy_jpeg}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error_code"] == "3021"
    kept = client.post("/v1/cutout/preview", json={"image_url": busy_jpeg, "min_cutout_confidence": 0}, headers=auth)
    assert kept.status_code == 200 and kept.json()["data"]["reasons"]


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from open_api(settings)


def test_an_async_job_ends_error_with_the_same_body(api: Api, busy_jpeg: str) -> None:
    key = api.key()
    sync = api.client.post("/v1/scene/create", json=body(busy_jpeg), headers=key)
    assert sync.status_code == 422
    job = api.finished(api.submit(body(busy_jpeg), key).json()["data"]["id"], key)
    assert job["status"] == "ERROR" and job["error"] == sync.json()


def test_a_real_photo_of_a_cup_on_a_cafe_table_is_refused(client, auth):  # type: ignore[no-untyped-def]
    """A real photograph in the wild (scikit-image's CC0 coffee cup on a table), not a rendered scene."""
    from ..scenes.test_studio_real_templates import PHOTOS, _photo  # noqa: TID252

    if PHOTOS is None:
        pytest.skip("scikit-image's sample photos are not installed")
    response = create(client, auth, body(jpeg_uri(_photo("coffee.png"))))
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "3021"


@pytest.mark.parametrize(("engine", "advice", "not_advised"), [
    ("classical", "install the neural cut-out engine", "photograph the product alone"),
    ("neural", "photograph the product alone on a plain backdrop", "photostage models add"),
])
def test_the_refusal_advises_the_neural_engine_only_when_it_was_not_the_one_in_doubt(
    engine: str, advice: str, not_advised: str
) -> None:
    """The neural engine is refused on a busy backdrop too (it cannot tell the product from the
    other objects in a room): its refusal does not send the user to install what they have."""
    from photostage.contract.errors import PhotostageError
    from photostage.cutout.base import Cutout, alpha_box
    from photostage.cutout.classical import ClassicalEngine
    from photostage.imaging.codecs import decode
    from photostage.pipeline.steps import inspect_cutout

    scene = render_scene("bottle", "cluttered", (320, 320), seed=4)
    ok, encoded = cv2.imencode(".jpg", scene.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    image = decode(encoded.tobytes(), max_pixels=10**7)
    rgba = ClassicalEngine().extract(image.rgba).rgba
    with pytest.raises(PhotostageError) as refused:
        inspect_cutout(image, Cutout(rgba=rgba, box=alpha_box(rgba[..., 3]), engine=engine), 0.5)
    message = refused.value.message
    assert advice in message and not_advised not in message
    assert "transparent background" in message and "min_cutout_confidence" in message
