"""The safety net: an unexpected failure inside a cut-out or scene engine is a clear 422 in the
contract's format (sync and async), never a 5xx; engine refusals pass through untouched; and a
valid 6000×6000 JPEG is never a 5xx."""

from __future__ import annotations

import base64
import io
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.contract.errors import CUTOUT_FAILED, MODEL_UNAVAILABLE, RENDER_FAILED, PhotostageError
from photostage.cutout.base import Cutout
from photostage.pipeline.guarded import GuardedCutoutEngine, GuardedSceneEngine, guard_scene_engines
from photostage.scenes.base import RenderedScene, RenderJob

from ..conftest import make_product  # noqa: TID252


class Exploding:
    name = "exploding"

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.label = "kept"

    def available(self) -> bool:
        return True

    def extract(self, rgba: np.ndarray) -> Cutout:
        raise self.error

    def render(self, job: RenderJob) -> RenderedScene:
        raise self.error

    def render_batch(self, jobs: list[RenderJob]) -> list[RenderedScene]:
        raise self.error


def test_an_engine_crash_becomes_a_contract_error_and_refusals_pass_through() -> None:
    crash = np.linalg.LinAlgError("matting did not converge")
    cutout = GuardedCutoutEngine(Exploding(crash))  # type: ignore[arg-type]
    with pytest.raises(PhotostageError) as caught:
        cutout.extract(np.zeros((30, 40, 4), np.uint8))
    assert caught.value.kind is CUTOUT_FAILED and caught.value.status == 422
    assert "40×30" in caught.value.public_message and "LinAlgError" in caught.value.public_message
    assert "converge" not in caught.value.public_message  # third-party text stays in the log
    assert cutout.name == "exploding" and cutout.label == "kept" and cutout.available()

    refusal = PhotostageError(MODEL_UNAVAILABLE)
    with pytest.raises(PhotostageError) as passed:
        GuardedCutoutEngine(Exploding(refusal)).extract(np.zeros((3, 3, 4), np.uint8))  # type: ignore[arg-type]
    assert passed.value is refusal

    scene = GuardedSceneEngine(Exploding(MemoryError()))  # type: ignore[arg-type]
    job = SimpleNamespace(index=2)
    for call in (lambda: scene.render(job), lambda: scene.render_many([job])):  # type: ignore[arg-type]
        with pytest.raises(PhotostageError) as rendered:
            call()
        assert rendered.value.kind is RENDER_FAILED and rendered.value.status == 422
        assert "image 2" in rendered.value.public_message


def test_an_engine_without_batches_keeps_none() -> None:
    class Single:
        name = "single"

        def available(self) -> bool:
            return True

        def render(self, job: RenderJob) -> RenderedScene:
            raise AssertionError

    assert getattr(GuardedSceneEngine(Single()), "render_batch", None) is None  # type: ignore[arg-type]


def test_every_scene_engine_of_the_app_is_behind_the_net(app) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    assert isinstance(services.cutout_engine, GuardedCutoutEngine)
    engines = services.engines
    assert isinstance(engines.builtin, GuardedSceneEngine)
    assert all(isinstance(engine, GuardedSceneEngine) for engine in engines.engines.values())
    assert guard_scene_engines(engines).builtin is engines.builtin  # wrapping twice is a no-op


def opaque_jpeg_uri(width: int = 240, height: int = 300) -> str:
    product = make_product(120, 180)
    canvas = np.full((height, width, 3), 235, np.uint8)
    alpha = product[..., 3:4].astype(np.float32) / 255
    y, x = (height - 180) // 2, (width - 120) // 2
    region = canvas[y:y + 180, x:x + 120].astype(np.float32)
    canvas[y:y + 180, x:x + 120] = (product[..., :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_crashing_cutout_or_scene_engine_is_422_not_500(client, app, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    body = {"object": {"image_url": opaque_jpeg_uri()}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "format": "jpeg"}}
    monkeypatch.setattr(services.cutout_engine.inner, "extract", Exploding(ValueError("shape")).extract)
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error_code"] == CUTOUT_FAILED.code and error["error_type"] == "image"
    assert "transparent background" in error["error_message"]
    monkeypatch.undo()

    monkeypatch.setattr(services.engines.builtin.inner, "render", Exploding(IndexError("edge")).render)
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == RENDER_FAILED.code


def test_an_async_job_with_a_crashing_engine_ends_error_with_the_same_code(client, app, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    monkeypatch.setattr(services.cutout_engine.inner, "extract", Exploding(ZeroDivisionError()).extract)
    body = {"object": {"image_url": opaque_jpeg_uri()}, "scene": {"effect": "shadows"}}
    accepted = client.post("/v1/scene/create/async", json=body, headers=auth)
    assert accepted.status_code == 202, accepted.text
    url = f"/v1/scene/create/async/{accepted.json()['data']['id']}"
    job = client.get(url, headers=auth).json()["data"]
    for _ in range(6000):  # bounded by count; each poll waits a little for the worker
        if job["status"] in ("DONE", "ERROR"):
            break
        time.sleep(0.05)
        job = client.get(url, headers=auth).json()["data"]
    assert job["status"] == "ERROR" and job["error"]["error_code"] == CUTOUT_FAILED.code


@pytest.mark.slow
def test_a_6000_by_6000_jpeg_is_never_a_5xx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A camera-sized opaque JPEG (36 MP) through the real API with the default engines: a
    finished scene, or a clear refusal in the contract's format — never a 5xx."""
    side = 6000
    rng = np.random.default_rng(7)
    canvas = np.clip(236 + rng.normal(0, 3, (side, side, 3)), 0, 255).astype(np.uint8)
    product = cv2.resize(make_product(400, 600, seed=3), (3000, 4500), interpolation=cv2.INTER_CUBIC)
    alpha = product[..., 3:4].astype(np.float32) / 255
    region = canvas[700:5200, 1500:4500].astype(np.float32)
    canvas[700:5200, 1500:4500] = (product[..., :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "JPEG", quality=90)
    del canvas, product, region
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    app = create_app(Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False}))
    secret, _ = app.state.services.keys.create("big")
    body = {"object": {"image_url": uri}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "format": "jpeg"}}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/scene/create", json=body, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        data = response.json()["data"]
        assert (data["input"]["width"], data["input"]["height"]) == (side, side)
        assert data["output"][0]["width"] == 1024
    else:
        error = response.json()
        assert response.status_code == 422 and error["error_type"] == "image", error
        assert error["error_message"]
