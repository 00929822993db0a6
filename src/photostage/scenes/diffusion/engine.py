"""`diffusion`: photoreal scenes painted by a local diffusers inpainting pipeline around the product.

The model outpaints: its mask is the inverse of the product grown by a protected band, so it
paints only the scene around the product it sees in the init image. Prompt scenes start from the
studio engine's render of the same prompt (or a neutral backdrop), template scenes from the
template fitted to the canvas, restyled by img2img where the weights allow (``transform``
repaints ~75 % of it, ``adjust`` ~35 %). Afterwards the product area is filled from the
surrounding scene (the background holds no product), and the pipeline tops up the studio's
shadows where the model painted none and composites the original product back on top: the
model's rendition of the product is never shown. Effect scenes and locked templates never reach
this engine (the registry sends them to the builtin one).

Recipe for a batch of jobs:
    1. the loaded pipeline (503 while it loads in the background)
    2. per job: options, render size, protected band, studio staging, init image, prompts in budget
    3. per group of jobs sharing size and settings: a place in the device's queue (503 when full),
       one pipeline call per batch the memory plan allows, one generator per image
    4. per image: the outline check (one retry with a wider band, then 422), fill the product
       hole, upscale to the canvas → RenderedScene, with the light the shadow step follows

Failures a client meets are mapped here: busy device, weights still loading and out of memory →
503 with Retry-After; NaN output that a float32 decode did not cure → 422 saying what to try;
weights that fail to load → 422 (the model is unavailable, and is reported so from then on); a
deadline or a client that left → whatever the caller's stop raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from photostage.config import EnginesSettings
from photostage.contract.errors import (
    MODEL_UNAVAILABLE,
    OVERLOADED,
    RENDER_FAILED,
    SCENE_FAILED,
    SCENE_OUT_OF_MEMORY,
    SCENE_UNFAITHFUL,
    PhotostageError,
)
from photostage.scenes.base import Each, RenderControl, RenderedScene, RenderJob, SceneEngine, SceneSpec
from photostage.scenes.diffusion import canvas, outline
from photostage.scenes.diffusion.admission import DeviceAdmission, DeviceBusy
from photostage.scenes.diffusion.memory import MemoryPolicy
from photostage.scenes.diffusion.options import DiffusionOptions, parse_options
from photostage.scenes.diffusion.pipeline import (
    CallSettings,
    Generated,
    Generation,
    LoadedPipeline,
    NonFiniteOutput,
    OutOfDeviceMemory,
    PipelineLoader,
    Runtime,
    WeightsLoading,
    WeightsSource,
    dependencies_importable,
)
from photostage.scenes.diffusion.prompts import AssembledPrompt, scene_negative_prompt, scene_prompt
from photostage.scenes.diffusion.staging import Staging, scaled_job, stage

logger = logging.getLogger(__name__)

_SEED_MASK = (1 << 64) - 1
FILL_MARGIN = 2  # px around the product (at render size) replaced by the scene continued under it
LOADING_RETRY_AFTER_S = 15
OOM_RETRY_AFTER_S = 30
CANNY_LOW, CANNY_HIGH = 100, 200


def torch_seed(seed: int, index: int, attempt: int = 0) -> int:
    """The generator seed of one output image: same (seed, index, attempt), same image."""
    entropy = [seed & _SEED_MASK, index & _SEED_MASK] + ([attempt] if attempt else [])
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


def strength_for(scene: SceneSpec, options: DiffusionOptions) -> float:
    if scene.kind == "template":
        return options.strength_adjust if scene.template_mode == "adjust" else options.strength_transform
    return options.strength_prompt


@dataclass(frozen=True)
class PreparedImage:
    """One job made ready for the model, and what finishing its output needs."""

    job: RenderJob
    options: DiffusionOptions
    settings: CallSettings
    generation: Generation
    product_rgba: np.ndarray  # (render_h, render_w, 4) the product layer at render size
    band: int  # protected band around the product, px at render size
    staging: Staging
    prompt: AssembledPrompt
    negative: AssembledPrompt
    attempt: int = 0

    @property
    def batch_key(self) -> tuple[CallSettings, int]:
        return self.settings, self.options.max_batch


@dataclass(frozen=True)
class DiffusionSettings:
    """The engine's own configuration (from ``engines.diffusion_*`` settings)."""

    path: Path
    config: Path | None = None  # configs + tokenizers for a single-file checkpoint
    runtime: Runtime = Runtime()
    max_waiting: int = 4  # calls that may wait for the device; more are refused with 503


def settings_from(engines: EnginesSettings) -> DiffusionSettings:
    """The engine's settings from the server's ``engines.diffusion_*`` settings."""
    if engines.diffusion_path is None:
        raise ValueError("engines.diffusion_path is not set")
    memory = engines.diffusion_memory
    policy = MemoryPolicy(max_batch=memory.max_batch, attention_slicing=memory.attention_slicing,
                          vae_slicing=memory.vae_slicing, vae_tiling=memory.vae_tiling, offload=memory.offload)
    runtime = Runtime(device=engines.diffusion_device, dtype=engines.diffusion_dtype, memory=policy,
                      controlnet=engines.diffusion_controlnet_path)
    return DiffusionSettings(path=engines.diffusion_path, config=engines.diffusion_config, runtime=runtime,
                             max_waiting=engines.diffusion_queue)


class DiffusionEngine(SceneEngine):
    """Scenes from a local diffusers inpainting pipeline (SD 1.5 / 2, SDXL, FLUX.1 Fill)."""

    name = "diffusion"

    def __init__(
        self, path: Path, device: str = "auto", *, settings: DiffusionSettings | None = None,
        loader: PipelineLoader | None = None, admission: DeviceAdmission | None = None,
    ) -> None:
        if settings is None:
            settings = DiffusionSettings(path=Path(path), runtime=Runtime(device=device))
        self.settings = settings
        self.path = settings.path
        self.device = settings.runtime.device
        self.source = WeightsSource(settings.path, settings.config)
        self._loader = loader or PipelineLoader(self.source, settings.runtime)
        self.admission = admission or DeviceAdmission(slots=1, max_waiting=settings.max_waiting)
        self._dependencies: bool | None = None

    # ------------------------------------------------------------------------- availability
    def unavailable_reason(self) -> str | None:
        """Why the engine cannot serve here, in words an operator can act on; None when it can."""
        try:
            if self._dependencies is None:
                self._dependencies = dependencies_importable()
            if not self._dependencies:
                return "torch and diffusers are not installed (pip install photostage[diffusion])"
            problem = self.source.problem()
            if problem is not None:
                return problem
        except Exception:  # unavailable_reason() answers, it never raises
            logger.exception("diffusion engine availability check failed")
            return "the availability check failed (see the server log)"
        if self._loader.error is not None:
            return f"the weights failed to load ({type(self._loader.error).__name__}; the server log has the details)"
        return None

    def available(self) -> bool:
        """True when torch and diffusers import, the weights look loadable and did not fail to load."""
        return self.unavailable_reason() is None

    @property
    def loaded(self) -> bool:
        """Whether the pipeline is in memory."""
        return self._loader.loaded is not None

    def status(self) -> dict[str, object]:
        """Device honesty for ``/v1/models`` and ``doctor``: where the weights run (or would), in
        what number format, how much memory, whether they are loaded, and any warning."""
        state: dict[str, object] = {"device_requested": self.device, "weights": self._loader.state}
        loaded = self._loader.loaded
        if loaded is not None:
            state.update(loaded.status())
            if loaded.device.warning:
                state["warning"] = loaded.device.warning
            queue = self.admission.state()
            state.update({"running": queue.running, "waiting": queue.waiting, "max_waiting": queue.max_waiting})
        else:
            state.update(_device_preview(self.device))
        if self._loader.state == "loading":
            state["loading_s"] = round(self._loader.loading_seconds(), 1)
        reason = self.unavailable_reason()
        if reason is not None:
            state["reason"] = reason
        return state

    def check_capacity(self) -> None:
        """503 with Retry-After now when the device's queue is full, or its weights still load
        (the overload gate asks before any work is done for a request)."""
        if self._loader.state == "loading":
            self._pipeline()  # raises the 503 that says so
        try:
            self.admission.check()
        except DeviceBusy as busy:
            raise _busy(busy) from None

    def start_loading(self) -> None:
        """Load the weights in the background now (at server start), so no request waits for them."""
        if self.available():
            self._loader.start()

    def warm(self) -> LoadedPipeline:
        """Load the weights now, in this thread (``doctor --warm``), and return them."""
        self._loader.start()
        self._loader.wait()
        return self._pipeline()

    # ---------------------------------------------------------------------------- rendering
    def render(self, job: RenderJob, control: RenderControl | None = None) -> RenderedScene:
        return self.render_many([job], control=control)[0]

    def render_many(
        self, jobs: Sequence[RenderJob], each: Each = map, control: RenderControl | None = None
    ) -> list[RenderedScene]:
        """Render several jobs, generating those that share size and settings in one pipeline call
        (``each`` is not used: the batch, not a thread pool, is what makes several images fast here)."""
        control = control or RenderControl()
        results: dict[int, RenderedScene] = {}
        pending = [(position, self._prepare(job)) for position, job in enumerate(jobs)]
        for batch in _batches(pending):
            for (position, _), rendered in zip(batch, self._render_group([item for _, item in batch], control),
                                               strict=True):
                results[position] = rendered
        return [results[position] for position in range(len(jobs))]

    def _render_group(self, prepared: list[PreparedImage], control: RenderControl) -> list[RenderedScene]:
        """One group sharing call settings: generate, check outlines, retry flagged images once."""
        prepared = list(prepared)
        generated = self._generate(prepared, control)
        checks = [self._check(item, image) for item, image in zip(prepared, generated.images, strict=True)]
        images = list(generated.images)
        flagged = [index for index, check in enumerate(checks) if check is not None and check.flagged]
        calls = [generated] * len(prepared)
        if flagged:
            retried = [self._prepare(prepared[index].job, attempt=1) for index in flagged]
            again = self._generate(retried, control)
            for index, item, image in zip(flagged, retried, again.images, strict=True):
                checks[index] = self._check(item, image)
                images[index], prepared[index], calls[index] = image, item, again
            still = [index for index in flagged if (check := checks[index]) is not None and check.flagged]
            if still:
                numbers = ", ".join(str(prepared[index].job.index) for index in still)
                raise PhotostageError(SCENE_UNFAITHFUL, details={"scene": [
                    f"the model painted past the product's outline in image(s) {numbers}, twice; "
                    "try another seed or prompt, or a model on the studio engine"
                ]})
        finished = [
            _finish(item, image, calls[index], checks[index], self._loader.loaded)
            for index, (item, image) in enumerate(zip(prepared, images, strict=True))
        ]
        info = finished[0].info
        logger.info("diffusion: %d image(s) at %s by %s on %s (%s), %s steps run, %d repainted for the outline",
                    len(finished), info["render_size"], info["pipeline"], info["device"], info["dtype"],
                    info["steps"], len(flagged))
        return finished

    def _check(self, item: PreparedImage, image: np.ndarray) -> outline.OutlineCheck | None:
        if not item.options.outline_check:
            return None
        return outline.check_outline(image, item.product_rgba, item.band, item.options.outline_threshold)

    def _pipeline(self) -> LoadedPipeline:
        try:
            return self._loader.get()
        except WeightsLoading as loading:
            raise PhotostageError(OVERLOADED, headers={"Retry-After": str(LOADING_RETRY_AFTER_S)}, details={
                "scene.model": [f"{loading}; retry shortly"]}) from None
        except Exception as error:
            reason = (f"the diffusion weights could not be loaded ({type(error).__name__}); "
                      "use a model on the studio engine until the operator fixes them")
            raise PhotostageError(MODEL_UNAVAILABLE, details={"scene.model": [reason]}) from error

    def _prepare(self, job: RenderJob, attempt: int = 0) -> PreparedImage:
        scene = job.scene
        if scene.kind == "template" and scene.template is None:
            raise ValueError("a template scene reached the diffusion engine without its template")
        options = _options(scene)
        loaded = self._pipeline()
        width, height = canvas.render_size(job.width, job.height, loaded.native_side, options.max_side, loaded.multiple)
        render_job = scaled_job(job, width, height)
        alpha = render_job.product.alpha
        band = outline.band_width(alpha, options.protect_band, options.mask_margin) * (2 if attempt else 1)
        staging = stage(job, render_job, options.init)
        mode = loaded.mode_for_template(options.template_call) if scene.kind == "template" else "inpaint"
        use_control = loaded.controlnet is not None and options.controlnet_scale > 0
        settings = CallSettings(
            width=width,
            height=height,
            steps=scene.steps or options.steps,
            guidance_scale=options.guidance_scale,
            strength=strength_for(scene, options),
            scheduler=options.scheduler,
            mode=mode,
            control_scale=options.controlnet_scale if use_control else None,
        )
        prompt = scene_prompt(scene, options, loaded.token_counter(0), loaded.prompt_tokens(0))
        negative = scene_negative_prompt(scene, options, loaded.token_counter(0), loaded.prompt_tokens(0))
        long_prompt = (scene_prompt(scene, options, loaded.token_counter(1), loaded.prompt_tokens(1))
                       if loaded.text_encoders > 1 else None)
        init = canvas.init_image(staging.backdrop, render_job.product.rgba)
        generation = Generation(
            prompt=prompt.text,
            negative_prompt=negative.text,
            init=init,
            mask=canvas.paint_mask(outline.protected_area(alpha, band)),
            seed=torch_seed(job.seed, job.index, attempt),
            control=_canny(init) if use_control else None,
            prompt_2=long_prompt.text if long_prompt is not None else None,
        )
        return PreparedImage(job, options, settings, generation, render_job.product.rgba, band, staging,
                             prompt, negative, attempt)

    def _generate(self, prepared: list[PreparedImage], control: RenderControl) -> Generated:
        loaded = self._pipeline()
        if control.stop is not None:
            control.stop()
        try:
            with self.admission.slot(control.stop, bounded=not control.may_queue):
                return loaded.generate(prepared[0].settings, [item.generation for item in prepared], control.stop)
        except DeviceBusy as busy:
            raise _busy(busy) from None
        except OutOfDeviceMemory as error:
            raise PhotostageError(SCENE_OUT_OF_MEMORY, headers={"Retry-After": str(OOM_RETRY_AFTER_S)}, details={
                "scene.model": [str(error)]}) from None
        except NonFiniteOutput as error:
            raise PhotostageError(RENDER_FAILED, details={"scene.model": [
                f"{error} (operator); retry with another seed, or use a model on the studio engine"]}) from None
        except ValueError as error:  # an option the weights cannot honour (e.g. an incompatible scheduler)
            raise PhotostageError(SCENE_FAILED, details={"scene.model": [str(error)]}) from error


def _busy(busy: DeviceBusy) -> PhotostageError:
    return PhotostageError(OVERLOADED, headers={"Retry-After": str(busy.retry_after_s)}, details={
        "scene.model": [f"{busy}; retry in about {busy.retry_after_s} s"]})


def _device_preview(device: str) -> dict[str, object]:
    """Before the weights are loaded: the device ``auto`` would resolve to, and its warning."""
    try:
        from photostage.scenes.diffusion.device import parse_device, resolve_device

        resolved = resolve_device(parse_device(device))
    except ImportError:
        return {}
    except ValueError as error:
        return {"warning": str(error)}
    preview: dict[str, object] = {"device": resolved.torch_name}
    if resolved.warning:
        preview["warning"] = resolved.warning
    return preview


def _canny(rgb: np.ndarray) -> np.ndarray:
    """The ControlNet's conditioning image: Canny edges of the init image (template structure and
    the product's outline), white on black, three channels."""
    edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), CANNY_LOW, CANNY_HIGH)
    return cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB)


def _options(scene: SceneSpec) -> DiffusionOptions:
    try:
        return parse_options(scene.model_options)
    except ValueError as error:
        raise PhotostageError(SCENE_FAILED, details={"scene.model": [str(error)]}) from error


def _batches(pending: list[tuple[int, PreparedImage]]) -> list[list[tuple[int, PreparedImage]]]:
    """Jobs grouped by shared call settings, in order, each group cut to the model's max batch."""
    groups: dict[tuple[CallSettings, int], list[tuple[int, PreparedImage]]] = {}
    for entry in pending:
        groups.setdefault(entry[1].batch_key, []).append(entry)
    batches: list[list[tuple[int, PreparedImage]]] = []
    for (_, max_batch), members in groups.items():
        batches.extend(members[start : start + max_batch] for start in range(0, len(members), max_batch))
    return batches


def _finish(
    item: PreparedImage, image: np.ndarray, generated: Generated, check: outline.OutlineCheck | None,
    loaded: LoadedPipeline | None,
) -> RenderedScene:
    """The model's scene without the product, at canvas size, and how the product's shadow falls
    (topped up by the pipeline where the model painted none)."""
    job, staging = item.job, item.staging
    hole = canvas.product_hole(item.product_rgba[..., 3], FILL_MARGIN)
    scene_rgb = canvas.fill_hole(image, hole)
    scene_rgb = canvas.upscale(scene_rgb, job.width, job.height)
    info: dict[str, object] = {
        "engine": "diffusion",
        "pipeline": generated.pipeline,
        "mode": item.settings.mode,
        "controlnet": item.settings.control_scale is not None,
        "device": loaded.device_name if loaded else None,
        "dtype": loaded.dtype if loaded else None,
        "render_size": [item.settings.width, item.settings.height],
        "steps": generated.steps_run,
        "strength": item.settings.strength,
        "guidance_scale": item.settings.guidance_scale,
        "scheduler": item.settings.scheduler,
        "init": staging.init,
        "seed": item.generation.seed,
        "attempt": item.attempt,
        "protect_band_px": item.band,
        "prompt_tokens": item.prompt.tokens,
        "prompt_dropped": list(item.prompt.dropped),
        "prompt_truncated": item.prompt.truncated,
        "negative_dropped": list(item.negative.dropped),
        "float32_decode": generated.float32_decodes > 0,
        **(check.as_info() if check is not None else {}),
        **staging.info,
    }
    # What the response's profiling says of this run (the pipeline's render step reports it).
    report: dict[str, float | str | list[str]] = {
        "diffusion_steps_run": float(generated.steps_run),  # a count, not milliseconds
        "diffusion_pipeline": generated.pipeline,
        "diffusion_device": f"{loaded.device_name} ({loaded.dtype})" if loaded else "",
    }
    if item.prompt.dropped:
        report["prompt_dropped"] = list(item.prompt.dropped)  # house phrases left out of the token budget
    if item.prompt.truncated:
        report["prompt_truncated"] = "the request's prompt was cut to fit the model's token budget"
    info["report"] = report
    background = cv2.cvtColor(scene_rgb, cv2.COLOR_RGB2RGBA)
    return RenderedScene(background=background, light_wrap=item.options.light_wrap, info=info, shadow=staging.shadow)

