"""How the diffusion engine fails, and recovers, with real diffusers classes at toy size.

Failures are injected into the real modules with torch hooks, never by timing or by exhausting a
device: out of memory (the UNet raises torch.OutOfMemoryError above a batch), NaN (a decoder or
UNet output replaced), cancellation (a clock that moves one tick per look), a model that paints
past the product (a decoder output with an extension painted on), a busy device, weights still
loading. Each failure must either be recovered from or reach the client as a clear error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from photostage.contract.errors import (  # noqa: E402
    DEADLINE,
    OVERLOADED,
    RENDER_FAILED,
    SCENE_OUT_OF_MEMORY,
    SCENE_UNFAITHFUL,
    PhotostageError,
)
from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec  # noqa: E402
from photostage.scenes.diffusion.admission import DeviceAdmission  # noqa: E402
from photostage.scenes.diffusion.engine import DiffusionEngine, DiffusionSettings, RenderControl  # noqa: E402
from photostage.scenes.diffusion.pipeline import PipelineLoader, Runtime, WeightsSource, load_pipeline  # noqa: E402
from photostage.scenes.diffusion.tiny import write_tiny_pipeline, write_tokenizer_files  # noqa: E402

SIDE = 64
PRODUCT_COLOUR = (210, 60, 40)
FAST: dict[str, object] = {"steps": 2}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failures")
    return write_tiny_pipeline(root / "pipe", write_tokenizer_files(root / "tokenizer"))


def fresh_engine(weights: Path, **runtime: Any) -> DiffusionEngine:
    """An engine of its own (its memory plan and hooks do not leak into other tests)."""
    return DiffusionEngine(weights, settings=DiffusionSettings(path=weights, runtime=Runtime(device="cpu", **runtime)))


def product() -> PlacedObject:
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    rgba[18:54, 24:40] = (*PRODUCT_COLOUR, 255)
    return PlacedObject(rgba=rgba, box=(24, 18, 40, 54))


def prompt_job(seed: int = 1, index: int = 0, **options: object) -> RenderJob:
    scene = SceneSpec(kind="prompt", prompt="wooden table", model_options={**FAST, **options})
    return RenderJob(scene=scene, width=SIDE, height=SIDE, product=product(), seed=seed, index=index)


@contextmanager
def hooked(module: Any, hook: Callable[..., Any], pre: bool = False) -> Iterator[None]:
    handle = module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class Calls:
    """Counts a module's forward calls and the batch each saw."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, module: Any, args: tuple[Any, ...]) -> None:
        self.batches.append(int(args[0].shape[0]))


# ----------------------------------------------------------------------------- out of memory
def test_out_of_memory_splits_the_batch_and_remembers_the_smaller_one(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()
    assert loaded.plan.max_batch >= 2  # plenty of RAM: the plan allows Claid's 4
    calls = Calls()

    def no_room_for_two(module: Any, args: tuple[Any, ...]) -> None:
        calls(module, args)
        if args[0].shape[0] > 2:  # two images with guidance are four samples
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    jobs = [prompt_job(seed=3, index=0), prompt_job(seed=3, index=1)]
    with hooked(loaded.pipe.unet, no_room_for_two, pre=True):
        rendered = engine.render_many(jobs)
    assert calls.batches[0] == 4 and set(calls.batches[1:]) == {2}  # one failed pair, then one by one
    assert loaded.plan.max_batch == 1 and "out of memory at batch 2" in loaded.plan.reasons[-1]
    for job, scene in zip(jobs, rendered, strict=True):
        alone = fresh_engine(weights).render(job).background.astype(int)
        assert np.abs(scene.background.astype(int) - alone).max() <= 2  # the same pictures


def test_out_of_memory_at_one_image_is_a_503_with_retry_after(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()

    def never_fits(module: Any, args: tuple[Any, ...]) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    with hooked(loaded.pipe.unet, never_fits, pre=True), pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job())
    error = caught.value
    assert error.kind == SCENE_OUT_OF_MEMORY and error.status == 503
    assert int(error.headers["Retry-After"]) > 0
    assert "ran out of memory for one image" in error.details["scene.model"][0]


# ------------------------------------------------------------------------------------------ NaN
def test_nan_decode_in_half_precision_is_redone_in_float32(weights: Path) -> None:
    """bfloat16 on the CPU stands in for a GPU's fp16: the injected decoder overflows in half
    precision only, as SDXL's fp16 VAE does; the retry decodes in float32 and succeeds."""
    engine = fresh_engine(weights, dtype="bfloat16")
    loaded = engine.warm()
    assert loaded.dtype == "bfloat16"
    seen: list[Any] = []

    def overflow_in_half(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        seen.append(args[0].dtype)
        return torch.full_like(output, float("nan")) if args[0].dtype == torch.bfloat16 else output

    with hooked(loaded.pipe.vae.decoder, overflow_in_half):
        rendered = engine.render(prompt_job())
    assert seen == [torch.bfloat16, torch.float32]
    assert rendered.info["float32_decode"] is True
    assert np.isfinite(rendered.background).all() and rendered.background[..., :3].std() > 0
    assert loaded.pipe.vae.dtype == torch.bfloat16  # back to half precision for the next call


def test_nan_that_float32_cannot_fix_fails_clearly_never_a_black_200(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()

    def always_nan(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        return torch.full_like(output, float("nan"))

    with hooked(loaded.pipe.vae.decoder, always_nan), pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job())
    assert caught.value.kind == RENDER_FAILED and caught.value.status == 422
    assert "decoder produced non-finite values" in caught.value.details["scene.model"][0]
    with hooked(loaded.pipe.unet, lambda module, args, output: (torch.full_like(output[0], float("inf")),)), \
            pytest.raises(PhotostageError) as denoiser:
        engine.render(prompt_job())
    assert "denoiser produced non-finite values" in denoiser.value.details["scene.model"][0]
    assert "diffusion_dtype" in denoiser.value.details["scene.model"][0]


# --------------------------------------------------------------------------------- cancellation
def test_deadline_stops_the_call_between_denoising_steps(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()
    ticks = iter(range(1000))  # the clock moves one tick each time it is read
    deadline = 3

    def stop() -> None:
        if next(ticks) >= deadline:
            raise PhotostageError(DEADLINE, details={"request": ["deadline passed while painting"]})

    calls = Calls()
    with hooked(loaded.pipe.unet, calls, pre=True), pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job(steps=20), RenderControl(stop=stop))
    assert caught.value.kind == DEADLINE
    assert len(calls.batches) == 3  # looked before the call (tick 0), after steps 1 and 2; stopped after 3


def test_a_client_that_leaves_mid_render_stops_it(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()
    gone = threading.Event()

    class ClientGone(Exception):
        pass

    def stop() -> None:
        if gone.is_set():
            raise ClientGone

    calls = Calls()

    def leave_at_second_step(module: Any, args: tuple[Any, ...]) -> None:
        calls(module, args)
        if len(calls.batches) == 2:
            gone.set()  # the disconnect arrives while step 2 runs

    with hooked(loaded.pipe.unet, leave_at_second_step, pre=True), pytest.raises(ClientGone):
        engine.render(prompt_job(steps=20), RenderControl(stop=stop))
    assert len(calls.batches) == 2


def test_reported_steps_are_the_steps_run(weights: Path) -> None:
    """A template in adjust mode repaints 35 %: 3 steps asked are 3 steps run (not int(3 × 0.35))."""
    engine = fresh_engine(weights)
    loaded = engine.warm()
    template = np.full((40, 40, 3), 150, np.uint8)
    scene = SceneSpec(kind="template", template=template, template_mode="adjust", steps=3, model_options=FAST)
    calls = Calls()
    with hooked(loaded.pipe.unet, calls, pre=True):
        rendered = engine.render(RenderJob(scene=scene, width=SIDE, height=SIDE, product=product(), seed=1))
    assert rendered.info["steps"] == 3 and len(calls.batches) == 3


# ------------------------------------------------------------------------------ busy, loading
def test_a_full_device_queue_is_a_503_with_retry_after(weights: Path) -> None:
    engine = DiffusionEngine(weights, settings=DiffusionSettings(path=weights, runtime=Runtime(device="cpu")),
                             admission=DeviceAdmission(slots=1, max_waiting=0))
    engine.warm()
    with engine.admission.slot(), pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job())
    assert caught.value.kind == OVERLOADED and caught.value.status == 503
    assert int(caught.value.headers["Retry-After"]) >= 1
    assert "GPU is busy" in caught.value.details["scene.model"][0]
    assert engine.render(prompt_job()).info["engine"] == "diffusion"  # free again


def test_requests_during_the_background_load_get_503_then_are_served(weights: Path) -> None:
    release = threading.Event()
    runtime = Runtime(device="cpu")

    def slow_load(source: WeightsSource, runtime: Runtime):  # type: ignore[no-untyped-def]
        release.wait(600)  # released by the test; the bound only ends a broken one
        return load_pipeline(source, runtime)

    loader = PipelineLoader(WeightsSource(weights), runtime, load=slow_load)
    engine = DiffusionEngine(weights, settings=DiffusionSettings(path=weights, runtime=runtime), loader=loader)
    engine.start_loading()
    assert engine.status()["weights"] == "loading"
    with pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job())
    assert caught.value.kind == OVERLOADED and "loading" in caught.value.details["scene.model"][0]
    assert "Retry-After" in caught.value.headers
    release.set()
    assert loader.wait(300)  # a guard against a broken test, not a timing
    assert engine.render(prompt_job()).info["engine"] == "diffusion"
    status = engine.status()
    assert status["weights"] == "ready" and status["device"] == "cpu" and status["dtype"] == "float32"


# -------------------------------------------------------------------------------------- outline
def paint_extension(output: Any) -> Any:
    """Decoder output (B, 3, H, W in [-1, 1]) of a grey scene with the product's colour painted
    upward from its top edge: the outline continued past any band."""
    image = torch.full_like(output, 0.35)
    colour = torch.tensor([c / 127.5 - 1 for c in PRODUCT_COLOUR], dtype=output.dtype)
    image[:, :, 0:24, 24:40] = colour.view(1, 3, 1, 1)
    return image


def test_a_painted_extension_is_retried_with_a_wider_band_then_refused(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()
    calls = Calls()
    with hooked(loaded.pipe.vae.decoder, lambda module, args, output: paint_extension(output)), \
            hooked(loaded.pipe.unet, calls, pre=True), pytest.raises(PhotostageError) as caught:
        engine.render(prompt_job())
    assert caught.value.kind == SCENE_UNFAITHFUL and caught.value.status == 422
    assert "another seed or prompt" in caught.value.details["scene"][0]
    assert len(calls.batches) == 4  # two steps, twice


def test_an_extension_painted_once_is_replaced_by_the_retry(weights: Path) -> None:
    engine = fresh_engine(weights)
    loaded = engine.warm()
    decodes = 0

    def extend_first(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return paint_extension(output) if decodes == 1 else output

    with hooked(loaded.pipe.vae.decoder, extend_first):
        rendered = engine.render(prompt_job())
    first = fresh_engine(weights).render(prompt_job(outline_check=False))
    assert rendered.info["attempt"] == 1 and rendered.info["outline_flagged"] is False
    assert rendered.info["protect_band_px"] == 2 * first.info["protect_band_px"]
    assert rendered.info["seed"] != first.info["seed"]
    with hooked(loaded.pipe.vae.decoder, lambda module, args, output: paint_extension(output)):
        unchecked = engine.render(prompt_job(outline_check=False))
    assert unchecked.info["attempt"] == 0 and "outline_score" not in unchecked.info


# ------------------------------------------------------------------------------ model offload
def test_model_offload_runs_the_variants_and_the_float32_redecode(tmp_path: Path) -> None:
    """The path GPU cards too small for the weights take: accelerate's offload hooks on every
    component, an img2img view built from the same components, and the NaN retry that upcasts the
    hooked VAE. Offloading to the CPU from the CPU is pointless, but it runs the same code."""
    from dataclasses import replace

    from photostage.scenes.diffusion.pipeline import apply_memory_plan

    text_to_image = write_tiny_pipeline(tmp_path / "t2i", write_tokenizer_files(tmp_path / "tokenizer"),
                                        inpainting=False)
    engine = fresh_engine(text_to_image, dtype="bfloat16")
    loaded = engine.warm()
    loaded.plan = replace(loaded.plan, offload="model")
    apply_memory_plan(loaded.pipe, loaded.plan, loaded.device)
    assert any(getattr(module, "_hf_hook", None) is not None for module in (loaded.pipe.unet, loaded.pipe.vae))
    template = np.full((40, 40, 3), 140, np.uint8)
    scene = SceneSpec(kind="template", template=template, template_mode="adjust", model_options=FAST)
    seen: list[Any] = []

    def overflow_in_half(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        seen.append(args[0].dtype)
        return torch.full_like(output, float("nan")) if args[0].dtype == torch.bfloat16 else output

    with hooked(loaded.pipe.vae.decoder, overflow_in_half):
        restyled = engine.render(RenderJob(scene=scene, width=SIDE, height=SIDE, product=product(), seed=2))
    assert restyled.info["pipeline"] == "StableDiffusionImg2ImgPipeline" and restyled.info["float32_decode"]
    assert seen == [torch.bfloat16, torch.float32]
    # The img2img view shares the weights and keeps their dtype (from_pipe casts to float32 unless told).
    assert loaded.pipe.vae.dtype == torch.bfloat16 and loaded.pipe.unet.dtype == torch.bfloat16
    assert engine.render(prompt_job()).info["pipeline"] == "StableDiffusionInpaintPipeline"
