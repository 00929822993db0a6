"""`diffusion`: photoreal scenes painted by a local diffusers inpainting pipeline around the product.

The model outpaints: its mask is the inverse of the (slightly grown) product, so it paints only
the scene around the product it sees in the init image. Prompt scenes start from the studio
engine's render of the same prompt (or a neutral backdrop), template scenes from the template
fitted to the canvas (``transform`` repaints ~75 % of it, ``adjust`` ~35 %). Afterwards the
product area is filled from the surrounding scene (the background holds no product), the studio's
shadows are topped up where the model painted none, and the pipeline composites the original
product back on top: the model's rendition of the product is never shown.

Recipe for a batch of jobs:
    1. effect scenes and locked templates → the builtin engine (nothing to generate)
    2. per job: options, render size, product masks, studio staging, init image, prompts
    3. per group of jobs sharing size and settings: one pipeline call, one generator per image
    4. per image: fill the product hole, upscale to the canvas, top up shadows → RenderedScene
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from photostage.contract.errors import SCENE_FAILED, PhotostageError
from photostage.imaging import shadows
from photostage.scenes.base import RenderedScene, RenderJob, SceneSpec
from photostage.scenes.diffusion import canvas
from photostage.scenes.diffusion.options import DiffusionOptions, parse_options
from photostage.scenes.diffusion.pipeline import (
    CallSettings,
    Generated,
    Generation,
    LoadedPipeline,
    PipelineLoader,
    dependencies_importable,
    is_diffusers_directory,
)
from photostage.scenes.diffusion.prompts import scene_negative_prompt, scene_prompt
from photostage.scenes.diffusion.staging import Staging, scaled_job, stage
from photostage.scenes.effect import BuiltinEngine

logger = logging.getLogger(__name__)

_SEED_MASK = (1 << 64) - 1


def torch_seed(seed: int, index: int) -> int:
    """The generator seed of one output image: same (seed, index), same image."""
    state = np.random.SeedSequence([seed & _SEED_MASK, index & _SEED_MASK]).generate_state(1, np.uint64)
    return int(state[0]) & ((1 << 63) - 1)


def needs_no_generation(scene: SceneSpec) -> bool:
    return scene.kind == "effect" or (scene.kind == "template" and scene.template_mode == "lock")


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
    hole: np.ndarray  # (render_h, render_w) uint8: 255 on the (grown) product
    staging: Staging

    @property
    def batch_key(self) -> tuple[CallSettings, int]:
        return self.settings, self.options.max_batch


class DiffusionEngine:
    """Scenes from a local diffusers inpainting pipeline (SD 1.5 / SD 2 / SDXL inpainting)."""

    name = "diffusion"

    def __init__(self, path: Path, device: str = "auto") -> None:
        self.path = Path(path)
        self.device = device
        self._loader = PipelineLoader(self.path, device)
        self._dependencies: bool | None = None

    def available(self) -> bool:
        """True when torch and diffusers import and ``path`` is a diffusers-format directory."""
        try:
            if self._dependencies is None:
                self._dependencies = dependencies_importable()
            return self._dependencies and is_diffusers_directory(self.path)
        except Exception:  # available() answers, it never raises
            logger.exception("diffusion engine availability check failed")
            return False

    @property
    def loaded(self) -> bool:
        """Whether the pipeline is in memory (it is loaded once, on the first render)."""
        return self._loader.loaded

    def render(self, job: RenderJob) -> RenderedScene:
        return self.render_batch([job])[0]

    def render_batch(self, jobs: list[RenderJob]) -> list[RenderedScene]:
        """Render several jobs, generating those that share size and settings in one pipeline call."""
        results: dict[int, RenderedScene] = {}
        pending: list[tuple[int, PreparedImage]] = []
        for position, job in enumerate(jobs):
            if needs_no_generation(job.scene):
                results[position] = BuiltinEngine().render(job)
            else:
                pending.append((position, self._prepare(job)))
        for batch in _batches(pending):
            prepared = [item for _, item in batch]
            generated = self._generate(prepared)
            outputs = zip(batch, generated.images, generated.flagged, strict=True)
            for (position, item), image, flagged in outputs:
                results[position] = _finish(item, image, flagged, self._pipeline().class_name)
        return [results[position] for position in range(len(jobs))]

    def _pipeline(self) -> LoadedPipeline:
        try:
            return self._loader.get()
        except Exception as error:
            logger.exception("loading the diffusion pipeline from %s failed", self.path)
            reason = f"the diffusion weights could not be loaded ({type(error).__name__})"
            raise PhotostageError(SCENE_FAILED, details={"scene.model": [reason]}) from error

    def _prepare(self, job: RenderJob) -> PreparedImage:
        scene = job.scene
        if scene.kind == "template" and scene.template is None:
            raise ValueError("a template scene reached the diffusion engine without its template")
        options = _options(scene)
        loaded = self._pipeline()
        width, height = canvas.render_size(
            job.width, job.height, loaded.native_side, options.max_side, loaded.multiple
        )
        render_job = scaled_job(job, width, height)
        hole = canvas.product_hole(render_job.product.alpha, options.mask_margin)
        staging = stage(job, render_job, options.init)
        settings = CallSettings(
            width=width,
            height=height,
            steps=scene.steps or options.steps,
            guidance_scale=options.guidance_scale,
            strength=strength_for(scene, options),
            scheduler=options.scheduler,
        )
        generation = Generation(
            prompt=scene_prompt(scene, options),
            negative_prompt=scene_negative_prompt(scene, options),
            init=canvas.init_image(staging.backdrop, render_job.product.rgba),
            mask=canvas.paint_mask(hole),
            seed=torch_seed(job.seed, job.index),
        )
        return PreparedImage(job, options, settings, generation, hole, staging)

    def _generate(self, prepared: list[PreparedImage]) -> Generated:
        loaded = self._pipeline()
        try:
            return loaded.generate(prepared[0].settings, [item.generation for item in prepared])
        except ValueError as error:  # an option the weights cannot honour (e.g. an incompatible scheduler)
            raise PhotostageError(SCENE_FAILED, details={"scene.model": [str(error)]}) from error


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


def _finish(item: PreparedImage, image: np.ndarray, flagged: bool, pipeline_name: str) -> RenderedScene:
    """The model's scene without the product, at canvas size, with the product's shadows."""
    job, staging = item.job, item.staging
    scene_rgb = canvas.fill_hole(image, item.hole)
    scene_rgb = canvas.upscale(scene_rgb, job.width, job.height)
    if staging.density is not None:
        missing = canvas.top_up_density(staging.density, scene_rgb)
        scene_rgb = shadows.apply_shadow(scene_rgb, missing, staging.tint)
    info: dict[str, object] = {
        "engine": "diffusion",
        "pipeline": pipeline_name,
        "render_size": [item.settings.width, item.settings.height],
        "steps": item.settings.steps,
        "strength": item.settings.strength,
        "guidance_scale": item.settings.guidance_scale,
        "scheduler": item.settings.scheduler,
        "init": staging.init,
        "seed": item.generation.seed,
        "safety_flagged": flagged,
        **staging.info,
    }
    background = cv2.cvtColor(scene_rgb, cv2.COLOR_RGB2RGBA)
    return RenderedScene(background=background, light_wrap=item.options.light_wrap, info=info)
