"""The diffusion engine inside the server: device honesty in ``GET /v1/models`` and ``doctor``,
weights loaded at start (503 while they load), the GPU queue in the overload gate, and the
settings that drive it. A tiny pipeline of real diffusers classes stands in for real weights; this
machine has no GPU, which is exactly the ``auto``-falls-back-to-CPU case to report honestly."""

from __future__ import annotations

import base64
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fastapi.testclient import TestClient  # noqa: E402

from photostage.api.app import create_app  # noqa: E402
from photostage.config import Settings  # noqa: E402
from photostage.doctor import check_scene_models  # noqa: E402
from photostage.scenes.diffusion.device import CPU_FALLBACK_WARNING  # noqa: E402
from photostage.scenes.diffusion.engine import DiffusionEngine, settings_from  # noqa: E402
from photostage.scenes.diffusion.pipeline import PipelineLoader, Runtime, WeightsSource, load_pipeline  # noqa: E402
from photostage.scenes.diffusion.tiny import write_tiny_pipeline, write_tokenizer_files  # noqa: E402

MODELS = {
    "v1": {"engine": "studio"},
    "v2": {"engine": "diffusion", "options": {"max_side": 64, "steps": 2}},
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service")
    return write_tiny_pipeline(root / "pipe", write_tokenizer_files(root / "tokenizer"))


def settings(tmp_path: Path, weights: Path, **engines: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        engines={"diffusion_path": str(weights), "models": MODELS, **engines},  # type: ignore[arg-type]
        rate_limit={"enabled": False},  # type: ignore[arg-type]
    )


def diffusion_of(app: object) -> DiffusionEngine:
    engine = app.state.services.engines.engines["diffusion"]  # type: ignore[attr-defined]
    return getattr(engine, "inner", engine)  # behind the pipeline's safety net


def product_body() -> dict[str, object]:
    """A small cut-out product (opaque block on transparency) as a data URI."""
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[5:35, 6:24] = (180, 60, 50, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return {
        "object": {"image_url": uri, "scale": 0.5},
        "scene": {"prompt": "marble table", "model": "v2", "seed": 1, "preference": "fast"},
        "output": {"number_of_images": 1, "format": "png"},
    }


def test_models_say_where_diffusion_runs_and_warn_about_the_cpu(tmp_path: Path, weights: Path) -> None:
    app = create_app(settings(tmp_path, weights, diffusion_preload=False))
    secret = app.state.services.keys.create("t")[0]
    with TestClient(app) as client:
        listed = {row["name"]: row for row in client.get(
            "/v1/models", headers={"Authorization": f"Bearer {secret}"}).json()["data"]}
        v2 = listed["v2"]
        assert v2["available"] is True and v2["engine"] == "diffusion"
        assert v2["device"] == "cpu" and v2["weights"] == "idle"  # auto, and this machine has no GPU
        assert v2["warning"] == CPU_FALLBACK_WARNING
        assert listed["v1"]["device"] == "cpu" and listed["v1"]["weights"] is None
        diffusion_of(app).warm()
        loaded = {row["name"]: row for row in client.get(
            "/v1/models", headers={"Authorization": f"Bearer {secret}"}).json()["data"]}["v2"]
        assert loaded["weights"] == "ready" and loaded["dtype"] == "float32"
        assert loaded["memory"].startswith("batch ≤ ") and loaded["warning"] == CPU_FALLBACK_WARNING


def test_weights_load_at_start_and_requests_meanwhile_get_503(tmp_path: Path, weights: Path) -> None:
    app = create_app(settings(tmp_path, weights))  # diffusion_preload defaults to on
    services = app.state.services
    secret = services.keys.create("t")[0]
    auth = {"Authorization": f"Bearer {secret}"}
    engine = diffusion_of(app)
    release = threading.Event()

    def slow_load(source: WeightsSource, runtime: Runtime):  # type: ignore[no-untyped-def]
        release.wait(600)  # the disk is slow today: the load ends when the test says so
        return load_pipeline(source, runtime)

    engine._loader = PipelineLoader(engine.source, engine.settings.runtime, load=slow_load)
    account = services.keys.authenticate(secret).account_id
    before = services.credits.left(account)
    with TestClient(app) as client:
        assert engine.status()["weights"] == "loading"  # started with the server, not by a request
        early = client.post("/v1/scene/create", json=product_body(), headers=auth)
        assert early.status_code == 503 and early.json()["error_code"] == "2002"
        assert int(early.headers["Retry-After"]) >= 1
        assert "loading" in early.json()["error_details"]["scene.model"][0]
        assert services.credits.left(account) == before  # refused before any credit was reserved
        release.set()
        assert engine._loader.wait(300) and engine.loaded
        answer = client.post("/v1/scene/create", json=product_body(), headers=auth)
        assert answer.status_code == 200, answer.text


def test_a_full_gpu_queue_is_refused_before_credits_are_reserved(tmp_path: Path, weights: Path) -> None:
    app = create_app(settings(tmp_path, weights, diffusion_preload=False, diffusion_queue=0))
    services = app.state.services
    secret = services.keys.create("t")[0]
    auth = {"Authorization": f"Bearer {secret}"}
    engine = diffusion_of(app)
    engine.warm()
    account = services.keys.authenticate(secret).account_id
    before = services.credits.left(account)
    with TestClient(app) as client, engine.admission.slot():  # another call holds the GPU
        refused = client.post("/v1/scene/create", json=product_body(), headers=auth)
        assert refused.status_code == 503 and refused.json()["error_code"] == "2002"
        assert int(refused.headers["Retry-After"]) >= 1
        assert "GPU is busy" in refused.json()["error_details"]["scene.model"][0]
        effect = product_body()
        effect["scene"] = {"effect": "shadows", "color": "#ffffff", "model": "v2"}  # never waits for the GPU
        assert client.post("/v1/scene/create", json=effect, headers=auth).status_code == 200
    assert services.credits.left(account) == (None if before is None else before - 1)  # the effect only


def test_doctor_shows_device_and_warm_loads_and_paints(tmp_path: Path, weights: Path) -> None:
    checks = {check.name: check for check in check_scene_models(settings(tmp_path, weights, diffusion_preload=False))}
    assert checks["model v2"].status == "warn" and "on cpu" in checks["model v2"].detail
    assert "no GPU is visible" in checks["model v2"].detail
    warmed = {check.name: check for check in check_scene_models(
        settings(tmp_path, weights, diffusion_device="cpu"), warm=True)}
    assert warmed["weights diffusion"].status == "ok", warmed["weights diffusion"].detail
    assert "loaded on cpu (float32)" in warmed["weights diffusion"].detail
    assert "test image" in warmed["weights diffusion"].detail
    assert warmed["model v2"].status == "ok" and "weights ready" in warmed["model v2"].detail


def test_settings_build_the_engine_and_refuse_bad_devices(tmp_path: Path, weights: Path) -> None:
    configured = settings(tmp_path, weights, diffusion_device="CUDA:1", diffusion_dtype="bfloat16",
                          diffusion_queue=2, diffusion_memory={"max_batch": 2, "offload": "model"})
    engine_settings = settings_from(configured.engines)
    assert engine_settings.runtime.device == "cuda:1" and engine_settings.runtime.dtype == "bfloat16"
    assert engine_settings.runtime.memory.max_batch == 2 and engine_settings.runtime.memory.offload == "model"
    assert engine_settings.max_waiting == 2
    engine = DiffusionEngine(weights, settings=engine_settings)
    assert "cuda:1 was asked for" in str(engine.status().get("warning"))  # this machine has no such GPU
    for bad in ({"diffusion_device": "gpu0"}, {"diffusion_dtype": "half"}, {"diffusion_memory": {"offload": "disk"}}):
        with pytest.raises(ValidationError):
            settings(tmp_path, weights, **bad)


def test_a_misspelt_model_option_fails_the_start_not_each_request(tmp_path: Path, weights: Path) -> None:
    from photostage.scenes.registry import build_scene_engines

    models = {**MODELS, "v2": {"engine": "diffusion", "options": {"stepz": 30}}}
    with pytest.raises(ValueError, match=r"engines\.models\.v2\.options: unknown diffusion option\(s\) stepz"):
        build_scene_engines(settings(tmp_path, weights, models=models))


# ----------------------------------------------------------------------------- cancellation
class UnetCalls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, module: object, args: tuple[object, ...]) -> None:
        self.count += 1


def test_client_watch_asks_at_most_every_interval_and_stops_once_gone() -> None:
    from photostage.api.routes.scene import ClientGone, ClientWatch

    now = [0.0]
    answers = iter([False, False, True])
    asked: list[float] = []

    def disconnected() -> bool:
        asked.append(now[0])
        return next(answers)

    watch = ClientWatch(disconnected, interval_s=0.5, clock=lambda: now[0])
    for step in range(4):  # steps 0.25 apart on the injected clock: asked at 0.0 and 0.5
        now[0] = step * 0.25
        watch()
    now[0] = 1.0
    with pytest.raises(ClientGone):
        watch()
    assert asked == [0.0, 0.5, 1.0]


def test_a_client_that_leaves_stops_the_model_between_steps_and_is_refunded(tmp_path: Path, weights: Path) -> None:
    from photostage.api.routes.scene import ClientWatch, _run
    from photostage.contract.errors import PhotostageError
    from photostage.contract.request import SceneCreateAPIIn

    app = create_app(settings(tmp_path, weights, diffusion_preload=False))
    services = app.state.services
    secret = services.keys.create("t")[0]
    principal = services.keys.authenticate(secret)
    services.credits.set(principal.account_id, 10)
    loaded = diffusion_of(app).warm()
    calls = UnetCalls()
    body = product_body()
    request = SceneCreateAPIIn.model_validate({**body, "scene": {**body["scene"], "steps": 20}})  # type: ignore[dict-item]
    watch = ClientWatch(lambda: calls.count >= 2, interval_s=0.0)  # the client hangs up during step 2
    handle = loaded.pipe.unet.register_forward_pre_hook(calls)
    try:
        with pytest.raises(PhotostageError) as caught:
            _run(request, principal, services, "req-gone", watch)
    finally:
        handle.remove()
    assert caught.value.kind.code == "2011" and caught.value.status == 499
    assert calls.count == 2  # stopped after the second of 20 denoising steps
    assert services.credits.left(principal.account_id) == 10  # refunded


def test_the_deadline_stops_the_model_between_steps(tmp_path: Path, weights: Path) -> None:
    app = create_app(settings(tmp_path, weights, diffusion_preload=False))
    services = app.state.services
    secret = services.keys.create("t")[0]
    loaded = diffusion_of(app).warm()
    now = [0.0]
    services.runner.clock = lambda: now[0]  # the request's clock, injected
    calls = UnetCalls()

    def slow_model(module: object, args: tuple[object, ...]) -> None:
        calls(module, args)
        if calls.count == 3:
            now[0] += services.settings.limits.request_deadline_s + 1  # step 3 ran past the deadline

    body = product_body()
    body["scene"] = {**body["scene"], "steps": 20}  # type: ignore[dict-item]
    handle = loaded.pipe.unet.register_forward_pre_hook(slow_model)
    try:
        with TestClient(app) as client:
            answer = client.post("/v1/scene/create", json=body, headers={"Authorization": f"Bearer {secret}"})
    finally:
        handle.remove()
    assert answer.status_code == 500 and answer.json()["error_code"] == "2010"
    assert "while the scene was being rendered" in answer.json()["error_details"]["request"][0]
    assert calls.count == 3


def test_a_cancelled_job_passes_through_the_engines_safety_net() -> None:
    """JobAborted raised by a stop check inside an engine reaches the job executor as itself (the
    executor marks the job aborted), not as the safety net's 422 for a failing engine."""
    from photostage.jobs.execute import JobAborted
    from photostage.pipeline.guarded import GuardedSceneEngine
    from photostage.scenes.base import RenderControl, SceneEngine

    class Stopping(SceneEngine):
        name = "stopping"

        def available(self) -> bool:
            return True

        def render(self, job):  # type: ignore[no-untyped-def]
            raise AssertionError("never reached: the stop check comes first")

    def cancelled() -> None:
        raise JobAborted("job-1")

    guarded = GuardedSceneEngine(Stopping())
    with pytest.raises(JobAborted):
        guarded.render_many([object()], control=RenderControl(stop=cancelled))  # type: ignore[list-item]
