"""Template scenes: ``transform`` (a new studio scene that follows the template's layout and palette)
and ``adjust`` (the template itself, fitted, relit and tinted, with the product's shadow)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from photostage.imaging import compose
from photostage.scenes.base import RenderedScene, RenderJob, ShadowFacts
from photostage.scenes.effect import floor_tint, template_facts, template_light, template_view
from photostage.scenes.studio import colours, lighting
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.lighting import LIGHTS
from photostage.scenes.studio.plan import MATERIAL_COLOURS, ScenePlan
from photostage.scenes.studio.prompt import PromptTerms
from photostage.scenes.studio.quality import Quality
from photostage.scenes.studio.render import TemplateGuide, render_scene, shadow_facts, to_canvas

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
    """The plan on the template's layout: seen from the top when the template has no horizon (and
    no view is asked); in the template's palette only where the prompt names no colours of its own
    (a transform changes colours per the prompt; with none named it keeps the template's)."""
    view = plan.view
    if requested_view == "auto" and terms.first("view") is None and layout.horizon is None:
        view = "top"
    names_colours = bool(terms.colours or terms.wall_colour or terms.surface_colour or terms.values("mood"))
    if names_colours:
        return dataclasses.replace(plan, view=view)
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
    """The template's layout in the prompt's materials, colours and light.

    A studio scene is rendered on the template's geometry (its surface edge as the horizon), then
    the template's structure is laid over it: its large-scale shading (where it is dark or bright)
    and its fine detail (every edge and object outline, as relative brightness) multiply the new
    scene's colours and materials. Objects keep their shapes and places; their colours and the
    light become the prompt's. The product's shadow follows the new light.
    """
    assert job.scene.template is not None
    facts = template_facts(job.scene)
    assert facts is not None
    horizon = facts.edge_row if facts.edge_row is not None else layout.horizon
    guide = TemplateGuide(horizon=horizon, structure=layout.structure)
    bare = dataclasses.replace(plan, props=(), gloss=min(plan.gloss, 0.2))
    rendered = render_scene(bare, quality, job, rng, guide)
    fitted = _fitted(job)
    scene = rendered.background[..., :3].astype(np.float32) / np.float32(255.0)
    rgb = _rematerial(fitted, scene, job.width)
    shadow = shadow_facts(job, plan, LIGHTS[plan.lighting])  # the full plan's light, on the new floor
    if shadow is not None:
        shadow = dataclasses.replace(shadow, tint=floor_tint(rgb, job.product.box))
    rendered.background = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    rendered.shadow = shadow
    rendered.info["template_mode"] = "transform"
    rendered.info["template_surface"] = facts.surface
    return rendered


def _fitted(job: RenderJob) -> np.ndarray:
    assert job.scene.template is not None
    template = job.scene.template[..., :3] if job.scene.template.ndim == 3 else np.dstack([job.scene.template] * 3)
    return compose.cover_fit(np.ascontiguousarray(template), job.width, job.height)


def _soft(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur computed at reduced resolution (it has no fine detail to keep)."""
    factor = max(1, min(8, int(sigma // 3)))
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    height, width = image.shape[:2]
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _rematerial(template: np.ndarray, scene: np.ndarray, width: int) -> np.ndarray:
    """``scene``'s colours and materials under ``template``'s shading and detail: (H, W, 3) uint8."""
    luma = template.astype(np.float32) @ _LUMA / np.float32(255.0) + np.float32(0.02)
    fine = max(1.0, 0.01 * width)
    detail = np.clip(luma / _soft(luma, fine), 0.25, 3.0)
    broad = _soft(luma, 0.05 * width)
    shading = np.clip(broad / max(float(broad.mean()), 1e-3), 0.35, 2.2) ** np.float32(0.6)
    scene_low = _soft(scene, fine)
    texture = np.clip(scene / np.maximum(scene_low, 1e-3), 0.5, 1.6) ** np.float32(0.5)
    out = scene_low * (shading * detail)[..., None] * texture
    # halfway between the new scene's exposure and the template's (a night photo stays dim-ish),
    # and a soft shoulder instead of clipping, so bright edges keep their detail
    ratio = float(luma.mean()) / max(float((out @ _LUMA).mean()), 1e-3)
    out *= np.float32(np.clip(ratio, 0.25, 4.0) ** 0.5)
    shoulder = np.float32(0.8)
    bright = out > shoulder
    out[bright] = shoulder + (1 - shoulder) * (1 - np.exp(-(out[bright] - shoulder) / (1 - shoulder)))
    return np.clip(out * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)


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
    """The template itself, fitted by cover-crop, relit and graded toward the prompt: the prompt's
    lighting (exposure, white balance, a key pool from the template's own light direction) and
    its or the request's colour; structure untouched. The product's shadow follows the template's
    light."""
    assert job.scene.template is not None
    facts = template_facts(job.scene)
    assert facts is not None
    fitted = _fitted(job).astype(np.float32) / 255.0
    character = LIGHTS[plan.lighting]
    light, opacity = template_light(job.scene, job, facts)
    small_h, small_w = max(8, job.height // 4), max(8, job.width // 4)
    extent = job.product.box
    centre = (
        ((extent[0] + extent[2]) / 8, (extent[1] + extent[3]) / 8)
        if extent[2] > extent[0]
        else (small_w / 2, small_h / 2)
    )
    field = lighting.top_light(character, small_h, small_w, centre, light.light_angle)
    field = field / max(float(field.mean()), 1e-3)
    relight = 1.0 + (cv2.resize(field, (job.width, job.height), interpolation=cv2.INTER_LINEAR) - 1.0) * 0.45
    exposure = {"low_key": 0.62, "neon": 0.7, "golden_hour": 0.96, "sunlight": 1.06}.get(plan.lighting, 1.0)
    balance = np.asarray(character.colour, np.float32)
    # the prompt's white balance relative to the template's own: a warm prompt warms even a warm photo
    balance = balance / max(float(balance.max()), 1e-3)
    image: np.ndarray = fitted * (relight * exposure)[..., None] * balance[None, None, :]
    tint = _target_tint(plan, job.scene.color, terms)
    if tint is not None:
        luma = image @ _LUMA
        tinted = luma[..., None] * (tint / max(float(tint @ _LUMA), 1e-3))[None, None, :]
        image = image + (tinted - image) * np.float32(0.3)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    quiet = dataclasses.replace(quality, grain=min(quality.grain * 0.5, max(0.4, facts.noise)))
    rgb = to_canvas(image, job, quiet, rng)
    shadow = None
    if job.scene.shadow.enabled:
        shadow = ShadowFacts(
            view="top" if template_view(job.scene.view, job.product, facts) == "top" else "front",
            light_angle=light.light_angle,
            opacity=opacity,
            softness=light.softness,
            length=light.length,
            tint=floor_tint(rgb, job.product.box),
        )
    info: dict[str, object] = {
        "engine": "studio",
        "template_mode": "adjust",
        "view": plan.view,
        "lighting": plan.lighting,
        "light_angle": round(light.light_angle, 1),
        "template_surface": facts.surface,
    }
    return RenderedScene(
        background=cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA), light_wrap=character.light_wrap * 0.8, info=info,
        shadow=shadow,
    )
