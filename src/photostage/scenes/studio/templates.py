"""Template scenes: ``transform`` (a new studio scene that follows the template's layout and palette)
and ``adjust`` (the template itself, fitted, relit and tinted, with the product's shadow)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from photostage.imaging import compose, shadows
from photostage.scenes.base import RenderedScene, RenderJob
from photostage.scenes.studio import colours, lighting
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.lighting import LIGHTS
from photostage.scenes.studio.plan import MATERIAL_COLOURS, ScenePlan
from photostage.scenes.studio.prompt import PromptTerms
from photostage.scenes.studio.quality import Quality
from photostage.scenes.studio.render import TemplateGuide, render_scene, shadow_layer, to_canvas

_PROBE = 48  # templates are analysed at this size: layout and palette are low-frequency facts
_LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class TemplateLayout:
    """What a template's picture says about layout and palette."""

    horizon: float | None  # fraction of the height of the strongest horizontal brightness step
    top_colour: RGB  # mean colour above the horizon (or of the upper half)
    bottom_colour: RGB  # mean colour below it
    structure: np.ndarray  # (16, 16) float32 relative luminance, mean 1


def _mean_colour(pixels: np.ndarray) -> RGB:
    mean = pixels.reshape(-1, 3).mean(axis=0) if pixels.size else np.full(3, 128.0)
    return (round(float(mean[0])), round(float(mean[1])), round(float(mean[2])))


def analyse_template(template: np.ndarray) -> TemplateLayout:
    """Find the template's horizon (a step in its row-mean brightness), its wall and floor colours
    and its smooth brightness layout."""
    rgb = template[..., :3] if template.ndim == 3 else np.dstack([template] * 3)
    small = cv2.resize(rgb, (_PROBE, _PROBE), interpolation=cv2.INTER_AREA).astype(np.float32)
    luma = small @ _LUMA / 255.0
    profile = cv2.GaussianBlur(luma.mean(axis=1).reshape(-1, 1), (1, 0), sigmaX=0, sigmaY=1.0).ravel()
    span = 3
    steps = np.abs(profile[span:] - profile[:-span])
    low, high = int(_PROBE * 0.1), int(_PROBE * 0.9) - span
    horizon: float | None = None
    split = _PROBE // 2
    if high > low and float(steps[low:high].max()) > 0.05:
        row = low + int(np.argmax(steps[low:high])) + span // 2 + 1
        horizon, split = row / _PROBE, row
    structure = cv2.GaussianBlur(cv2.resize(luma, (16, 16), interpolation=cv2.INTER_AREA), (0, 0), 1.2)
    structure = (structure / max(float(structure.mean()), 1e-3)).astype(np.float32)
    return TemplateLayout(horizon, _mean_colour(small[:split]), _mean_colour(small[split:]), structure)


def follow_template(plan: ScenePlan, layout: TemplateLayout, terms: PromptTerms, requested_view: str) -> ScenePlan:
    """The plan recoloured with the template's palette and, for a template without a horizon
    (and no view asked), seen from the top."""
    view = plan.view
    if requested_view == "auto" and terms.first("view") is None and layout.horizon is None:
        view = "top"
    natural = MATERIAL_COLOURS.get(plan.surface, MATERIAL_COLOURS["paper"])
    surface_colour = colours.mix(natural, layout.bottom_colour if view == "front" else layout.top_colour, 0.75)
    return dataclasses.replace(
        plan,
        view=view,
        wall_colour=layout.top_colour,
        surface_colour=surface_colour,
        accents=(colours.rotate_hue(layout.top_colour, 0.08), layout.bottom_colour),
    )


def transform(
    plan: ScenePlan, layout: TemplateLayout, quality: Quality, job: RenderJob, rng: np.random.Generator
) -> RenderedScene:
    guide = TemplateGuide(horizon=layout.horizon, structure=layout.structure)
    rendered = render_scene(plan, quality, job, rng, guide)
    rendered.info["template_mode"] = "transform"
    return rendered


def _target_tint(plan: ScenePlan, colour: RGB | None, terms: PromptTerms) -> np.ndarray | None:
    """The colour the template is pulled toward (request colour, then prompt colours), 0–1 RGB."""
    target = colour if colour is not None else (terms.colours[0] if terms.colours else None)
    if target is None and terms.wall_colour is not None:
        target = terms.wall_colour
    if target is None:
        return None
    return np.asarray(colours.with_lightness(target, 0.6), np.float32) / 255.0


def adjust(
    plan: ScenePlan, terms: PromptTerms, quality: Quality, job: RenderJob, rng: np.random.Generator
) -> RenderedScene:
    """The template fitted by cover-crop, relit by the plan's light and tinted toward the prompt's
    or request's colour, keeping its structure; the product's shadow added."""
    assert job.scene.template is not None
    template = job.scene.template[..., :3] if job.scene.template.ndim == 3 else np.dstack([job.scene.template] * 3)
    fitted = compose.cover_fit(np.ascontiguousarray(template), job.width, job.height).astype(np.float32) / 255.0
    character = LIGHTS[plan.lighting]
    small_h, small_w = max(8, job.height // 4), max(8, job.width // 4)
    extent = job.product.box
    centre = (
        ((extent[0] + extent[2]) / 8, (extent[1] + extent[3]) / 8)
        if extent[2] > extent[0]
        else (small_w / 2, small_h / 2)
    )
    field = lighting.top_light(character, small_h, small_w, centre, plan.light_angle)
    field = field / max(float(field.mean()), 1e-3)
    relight = 1.0 + (cv2.resize(field, (job.width, job.height), interpolation=cv2.INTER_LINEAR) - 1.0) * 0.35
    exposure = {"low_key": 0.62, "neon": 0.7}.get(plan.lighting, 1.0)
    image = fitted * (relight * exposure)[..., None] * np.asarray(character.colour, np.float32)[None, None, :]
    tint = _target_tint(plan, job.scene.color, terms)
    if tint is not None:
        luma = image @ _LUMA
        tinted = luma[..., None] * (tint / max(float(tint @ _LUMA), 1e-3))[None, None, :]
        image = image + (tinted - image) * np.float32(0.3)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    quiet = dataclasses.replace(quality, grain=quality.grain * 0.5)
    rgb = to_canvas(image, job, quiet, rng)
    density = shadow_layer(job, plan, character)
    if density is not None:
        x0, _, x1, y1 = job.product.box
        under = rgb[min(y1, job.height - 1) : min(job.height, y1 + 8), max(0, x0) : max(x0 + 1, x1)]
        floor = _mean_colour(under.astype(np.float32)) if under.size else (60, 60, 60)
        rgb = shadows.apply_shadow(rgb, density, (floor[0] // 6, floor[1] // 6, floor[2] // 6))
    info: dict[str, object] = {
        "engine": "studio",
        "template_mode": "adjust",
        "view": plan.view,
        "lighting": plan.lighting,
        "light_angle": round(plan.light_angle, 1),
    }
    return RenderedScene(
        background=cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA), light_wrap=character.light_wrap * 0.8, info=info
    )
