"""The studio renderer: a decided :class:`ScenePlan` → the background of one output image.

Recipe (front view; a flat lay skips the wall, the perspective and the reflections):

1. geometry: the wall/floor junction placed above the product's base, a vanishing row for the floor;
2. albedo: the wall material flat, the floor material warped onto the floor plane (a homography);
3. light: key pool, falloff, corner occlusion, vignette; window/plant gobos; neon side lights;
4. glossy floors mirror the backdrop; depth of field blurs the wall and the far floor; bokeh;
5. grade, then upsample to the canvas with film grain;
6. at full resolution: the product's reflection on glossy floors; its contact and cast shadows
   follow the plan's light (:func:`shadow_facts`), drawn by the pipeline's shadow step.

Steps 1–5 run at the quality's work resolution (everything there is soft or textured), step 6 at
full resolution (it must line up with the product's exact silhouette).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from photostage.imaging import compose, noise
from photostage.scenes.base import RenderedScene, RenderJob, ShadowFacts
from photostage.scenes.studio import backdrops, colours, lighting, props
from photostage.scenes.studio.lighting import LIGHTS, LightCharacter
from photostage.scenes.studio.materials import MaterialRequest, render_material
from photostage.scenes.studio.plan import ScenePlan
from photostage.scenes.studio.quality import Quality

_SKIES = ("sky", "sunset", "sea")


@dataclass(frozen=True)
class TemplateGuide:
    """Layout taken from a template (transform mode): where its horizon is, how light is spread."""

    horizon: float | None  # fraction of the height, None when the template has no clear horizon
    structure: np.ndarray  # small (h, w) float32 luminance map with mean 1


@dataclass(frozen=True)
class Geometry:
    """The front-view set at work resolution (rows and columns in work pixels)."""

    height: int
    width: int
    base: float  # the product's base line
    junction: float  # where the wall meets the floor (the visible horizon line)
    vanishing: float  # where floor lines converge (above the junction)
    product_x: float
    product_height: float


@dataclass(frozen=True)
class WorkCanvas:
    """Work resolution and its scale relative to the output canvas."""

    height: int
    width: int
    scale_y: float
    scale_x: float


_FLAT_LAY_SHARPNESS = 1.25  # a flat lay is all in focus: its texture is rendered finer


def _work_canvas(job: RenderJob, quality: Quality, view: str) -> WorkCanvas:
    scale = min(1.0, quality.work_scale * (_FLAT_LAY_SHARPNESS if view == "top" else 1.0))
    height, width = max(16, round(job.height * scale)), max(16, round(job.width * scale))
    return WorkCanvas(height, width, height / job.height, width / job.width)


def _product_extent(job: RenderJob) -> tuple[float, float, float, float] | None:
    x0, y0, x1, y1 = job.product.box
    if x1 <= x0 or y1 <= y0:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def _stage(plan: ScenePlan, job: RenderJob, work: WorkCanvas, junction: float | None) -> props.Stage:
    extent = _product_extent(job) or (job.width * 0.4, job.height * 0.4, job.width * 0.6, job.height * 0.8)
    box = (extent[0] * work.scale_x, extent[1] * work.scale_y, extent[2] * work.scale_x, extent[3] * work.scale_y)
    return props.Stage(
        height=work.height,
        width=work.width,
        view=plan.view,
        box=box,
        junction=junction,
        light_angle=plan.light_angle,
        accents=plan.accents,
        surface_colour=plan.surface_colour,
    )


def front_geometry(plan: ScenePlan, job: RenderJob, work: WorkCanvas, guide: TemplateGuide | None) -> Geometry:
    """Place the junction above the product's base, so the product stands on the floor."""
    height, width = work.height, work.width
    extent = _product_extent(job)
    if extent is None:
        base, product_h, product_x = 0.8 * height, 0.4 * height, width / 2
    else:
        base = extent[3] * work.scale_y
        product_h = (extent[3] - extent[1]) * work.scale_y
        product_x = (extent[0] + extent[2]) / 2 * work.scale_x
    gap = min(max(plan.horizon_ratio * product_h, 0.07 * height), 0.42 * height)
    junction = base - gap
    if guide is not None and guide.horizon is not None:
        junction = guide.horizon * height
    junction = float(min(max(junction, 0.06 * height), base - 0.03 * height))
    # How high the camera is above the floor, relative to the visible floor depth (low = strong convergence).
    camera_height = 0.55 if plan.backdrop in _SKIES else (2.6 if plan.closeup else 1.7)
    vanishing = junction - max(height - junction, 0.05 * height) * camera_height
    return Geometry(height, width, base, junction, vanishing, product_x, product_h)


def _request(
    plan: ScenePlan, height: int, width: int, colour: colours.RGB, unit: float, quality: Quality
) -> MaterialRequest:
    return MaterialRequest(height=height, width=width, colour=colour, unit=unit, quality=quality, accents=plan.accents)


def _floor_albedo(plan: ScenePlan, geo: Geometry, quality: Quality, rng: np.random.Generator) -> np.ndarray:
    """The floor material warped onto the floor plane: (H, W, 3); rows above the junction are unused."""
    tex_w = round(geo.width * 1.25)
    ratio = (geo.height - geo.vanishing) / max(geo.junction - geo.vanishing, 1e-3)
    tex_h = max(8, round(tex_w * min(1.6, 0.35 * ratio)))
    unit = tex_w / (3.6 if plan.closeup else 5.5)
    albedo = render_material(plan.surface, rng, _request(plan, tex_h, tex_w, plan.surface_colour, unit, quality))
    far_w = geo.width * 1.3
    near_w = far_w * ratio
    centre = geo.width / 2
    source = np.array([[0, 0], [tex_w, 0], [tex_w, tex_h], [0, tex_h]], np.float32)
    target = np.array(
        [
            [centre - far_w / 2, geo.junction],
            [centre + far_w / 2, geo.junction],
            [centre + near_w / 2, geo.height],
            [centre - near_w / 2, geo.height],
        ],
        np.float32,
    )
    homography = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(
        albedo, homography, (geo.width, geo.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _cove_weight(plan: ScenePlan, geo: Geometry) -> np.ndarray:
    """(H, 1, 1) weight of the floor (0 = wall): a hard corner, or a seamless sweep's curved cove."""
    rows = np.arange(geo.height, dtype=np.float32)[:, None, None] + 0.5
    band = 0.09 * geo.height if plan.backdrop == "sweep" else 1.0
    weight = np.clip((rows - geo.junction) / band, 0.0, 1.0)
    return (weight * weight * (3.0 - 2.0 * weight)).astype(np.float32)


def _lit_front(
    plan: ScenePlan,
    geo: Geometry,
    quality: Quality,
    character: LightCharacter,
    rng: np.random.Generator,
    softness: float,
) -> np.ndarray:
    """Albedo × light for the whole front-view set (the sky, if any, is emissive)."""
    floor = _floor_albedo(plan, geo, quality, rng)
    sky_backdrop = plan.backdrop in _SKIES
    corner = 0.0 if plan.backdrop == "sweep" or sky_backdrop else 0.16
    field = lighting.front_light(
        character, geo.height, geo.width, geo.junction, geo.base, geo.product_x, plan.light_angle, corner
    )
    field = _gobos(plan, field, rng, geo.junction, softness)
    weight = _cove_weight(plan, geo)
    if sky_backdrop:
        horizon = max(1, round(geo.junction))
        sky = backdrops.sky(
            rng, geo.height, geo.width, horizon, plan.backdrop == "sunset", plan.light_angle, quality.octaves
        )
        ground = lighting.lit(floor, field, character)
        haze = (
            np.exp(-np.clip(np.arange(geo.height, dtype=np.float32) - geo.junction, 0, None) / (0.06 * geo.height))[
                :, None, None
            ]
            * 0.6
        )
        ground = ground + (sky[horizon - 1 : horizon] - ground) * haze
        if plan.backdrop == "sea":
            shore = round(geo.junction + 0.45 * max(geo.base - geo.junction, 4.0))
            water, coverage = backdrops.sea(rng, geo.height, geo.width, horizon, shore, plan.light_angle)
            ground = ground + (water * field[..., None] ** 0.5 - ground) * coverage[..., None]
        return sky * (1.0 - weight) + ground * weight
    wall_rows = min(geo.height, int(math.ceil(geo.junction + 0.1 * geo.height)) + 2)
    wall = render_material(
        plan.wall,
        rng,
        _request(plan, wall_rows, geo.width, plan.wall_colour, geo.width / (4.0 if plan.closeup else 6.0), quality),
    )
    albedo = floor.copy()
    albedo[:wall_rows] = wall * (1.0 - weight[:wall_rows]) + floor[:wall_rows] * weight[:wall_rows]
    image = lighting.lit(albedo, field, character)
    if plan.lighting == "neon":
        image += albedo * lighting.coloured_side_lights(geo.height, geo.width, plan.accents[0], plan.accents[1], 0.9)
        tubes = backdrops.neon_tubes(rng, geo.height, geo.width, round(geo.junction), plan.accents)
        image += tubes * (1.0 - weight)
    return image


def _gobos(
    plan: ScenePlan, field: np.ndarray, rng: np.random.Generator, junction: float | None, softness: float
) -> np.ndarray:
    """Window light and plant shadows thrown across the set."""
    height, width = field.shape
    if plan.window_light:
        panes = backdrops.window_light(rng, height, width, junction, plan.light_angle, softness)
        field = field * (0.8 + 0.62 * panes)
    if plan.plant_shadows:
        leaves = backdrops.plant_shadows(rng, height, width, plan.light_angle, softness)
        field = field * (1.0 - 0.42 * leaves)
    return field


def _mirror_backdrop(image: np.ndarray, plan: ScenePlan, geo: Geometry, quality: Quality) -> np.ndarray:
    """Glossy floors mirror the wall above the junction, fading toward the camera."""
    if plan.gloss <= 0.05:
        return image
    junction = int(round(geo.junction))
    depth = min(junction, geo.height - junction)
    if depth <= 1:
        return image
    mirrored = image[junction - depth : junction][::-1]
    roughness = (1.0 - plan.gloss) * 0.03 * geo.width
    mirrored = _blur(np.ascontiguousarray(mirrored), roughness, quality.blur_downscale)
    rows = np.arange(depth, dtype=np.float32)[:, None, None]
    strength = plan.gloss * 0.55 * np.exp(-rows / (0.45 * max(geo.height - junction, 1)))
    floor = image[junction : junction + depth]
    image[junction : junction + depth] = floor + (mirrored - floor) * strength
    return image


def _blur(image: np.ndarray, sigma: float, downscale: int) -> np.ndarray:
    """A Gaussian blur of ``sigma`` (work px) computed at 1/downscale resolution."""
    if sigma < 0.6:
        return image
    height, width = image.shape[:2]
    factor = max(1, min(downscale, int(sigma // 1.5) or 1))
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _depth_of_field(image: np.ndarray, plan: ScenePlan, geo: Geometry, quality: Quality) -> np.ndarray:
    """Blur the backdrop fully and the floor more the farther it is from the product's base."""
    if plan.depth_of_field <= 0.01:
        return image
    sigma = plan.depth_of_field * 0.024 * geo.width
    if plan.backdrop == "bokeh":
        sigma = max(sigma, 0.03 * geo.width)
    rows = np.arange(geo.height, dtype=np.float32)
    behind = np.clip((geo.base - rows) / max(geo.base - geo.junction, 1.0), 0.0, 1.0) ** 1.1
    before = 0.2 * np.clip((rows - geo.base) / max(geo.height - geo.base, 1.0), 0.0, 1.0) ** 1.5
    weight = np.where(rows < geo.base, behind, before)[:, None, None].astype(np.float32)
    mid = _blur(image, sigma * 0.35, quality.blur_downscale)
    far = _blur(image, sigma, quality.blur_downscale)
    near_half = np.clip(weight * 2.0, 0.0, 1.0)
    far_half = np.clip(weight * 2.0 - 1.0, 0.0, 1.0)
    return image + (mid - image) * near_half + (far - mid) * far_half


def _bokeh_lights(image: np.ndarray, plan: ScenePlan, rng: np.random.Generator, rows: tuple[int, int]) -> np.ndarray:
    if not plan.bokeh_lights:
        return image
    height, width = image.shape[:2]
    full = plan.backdrop == "bokeh" or plan.lighting in ("low_key", "neon")
    warm_white: colours.RGB = (255, 226, 180)
    palette = [warm_white, warm_white, plan.accents[0], colours.lighten(plan.wall_colour, 0.25)]
    count = 38 if full else 14
    return image + backdrops.bokeh(rng, height, width, rows, palette, count, 1.0 if full else 0.45)


def _apply_structure(image: np.ndarray, guide: TemplateGuide | None) -> np.ndarray:
    """Follow a template's brightness layout: multiply by its (smooth) relative luminance."""
    if guide is None:
        return image
    height, width = image.shape[:2]
    structure = cv2.resize(guide.structure, (width, height), interpolation=cv2.INTER_CUBIC)
    return image * (0.45 + 0.55 * np.clip(structure, 0.2, 3.0))[..., None]


def render_front(
    plan: ScenePlan,
    quality: Quality,
    work: WorkCanvas,
    job: RenderJob,
    rng: np.random.Generator,
    character: LightCharacter,
    softness: float,
    guide: TemplateGuide | None,
) -> tuple[np.ndarray, Geometry]:
    geo = front_geometry(plan, job, work, guide)
    image = _lit_front(plan, geo, quality, character, rng, softness)
    image = _mirror_backdrop(image, plan, geo, quality)
    image = props.draw_props(image, _stage(plan, job, work, geo.junction), plan.props, rng)
    image = _depth_of_field(image, plan, geo, quality)
    image = _bokeh_lights(image, plan, rng, (0, max(2, round(geo.junction))))
    image = _apply_structure(image, guide)
    return lighting.grade(image.astype(np.float32), character.contrast), geo


def render_top(
    plan: ScenePlan,
    quality: Quality,
    work: WorkCanvas,
    job: RenderJob,
    rng: np.random.Generator,
    character: LightCharacter,
    softness: float,
    guide: TemplateGuide | None,
) -> np.ndarray:
    height, width = work.height, work.width
    unit = width / (3.2 if plan.closeup else 4.5)
    albedo = render_material(plan.surface, rng, _request(plan, height, width, plan.surface_colour, unit, quality))
    extent = _product_extent(job)
    centre = (
        (width / 2, height / 2)
        if extent is None
        else ((extent[0] + extent[2]) / 2 * work.scale_x, (extent[1] + extent[3]) / 2 * work.scale_y)
    )
    field = lighting.top_light(character, height, width, centre, plan.light_angle)
    field = _gobos(plan, field, rng, None, softness)
    image = lighting.lit(albedo, field, character)
    if plan.lighting == "neon":
        image += albedo * lighting.coloured_side_lights(height, width, plan.accents[0], plan.accents[1], 0.8)
    image = props.draw_props(image, _stage(plan, job, work, None), plan.props, rng)
    if plan.depth_of_field > 0.01:
        blurred = _blur(image, plan.depth_of_field * 0.02 * width, quality.blur_downscale)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        distance = np.sqrt((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (0.6 * max(height, width))
        image = image + (blurred - image) * np.clip(distance, 0.0, 1.0)[..., None]
    image = _bokeh_lights(image, plan, rng, (0, height))
    image = _apply_structure(image, guide)
    return lighting.grade(image.astype(np.float32), character.contrast)


def to_canvas(image: np.ndarray, job: RenderJob, quality: Quality, rng: np.random.Generator) -> np.ndarray:
    """Upsample the work image to the canvas and add fine film grain: (H, W, 3) uint8.

    The upsample runs on 16-bit values (8 fractional bits) and the grain is added before the
    final rounding, so gradients dither instead of banding; 16-bit OpenCV ops keep it cheap.
    """
    deep = (np.clip(image, 0.0, 1.0) * np.float32(255.0 * 256.0) + np.float32(0.5)).astype(np.uint16)
    if deep.shape[:2] != (job.height, job.width):
        deep = cv2.resize(deep, (job.width, job.height), interpolation=cv2.INTER_LINEAR)
    amplitude = quality.grain * 256.0
    table = np.round(np.linspace(0.0, 2.0 * amplitude, 256)).astype(np.uint16)
    raw = np.frombuffer(rng.bytes(job.height * job.width * 3), np.uint8).reshape(job.height, job.width, 3)
    deep = cv2.add(deep, cv2.LUT(raw, table))
    deep = cv2.subtract(deep, np.full_like(deep, round(amplitude)))
    return cv2.convertScaleAbs(deep, alpha=1.0 / 256.0)


def reflect_product(background: np.ndarray, job: RenderJob, plan: ScenePlan, rng: np.random.Generator) -> np.ndarray:
    """A faded, flipped copy of the product below its base line on glossy floors (in place)."""
    extent = _product_extent(job)
    if plan.gloss <= 0.05 or extent is None or plan.view != "front":
        return background
    x0, y0, x1, y1 = (int(value) for value in job.product.box)
    reach = min(y1 - y0, job.height - y1, max(4, int((y1 - y0) * (0.35 + 0.6 * plan.gloss))))
    if reach <= 1:
        return background
    roughness = (1.0 - plan.gloss) * 0.012 * (y1 - y0)
    pad = int(math.ceil(3.0 * roughness)) + 4  # room for the blur and ripples beyond the silhouette
    x0, x1 = max(0, x0 - pad), min(job.width, x1 + pad)
    source = job.product.rgba[y1 - reach : y1, x0:x1][::-1].astype(np.float32)
    if plan.surface == "water":
        source = _ripple(source, rng)
    alpha = source[..., 3:4] / 255.0
    rows = np.arange(reach, dtype=np.float32)[:, None, None]
    alpha = alpha * (plan.gloss * 0.75 * np.exp(-rows / (0.22 * (y1 - y0) * (0.4 + plan.gloss))))
    colour = source[..., :3]
    if roughness > 0.5:
        premultiplied = cv2.GaussianBlur(colour * alpha, (0, 0), roughness)
        alpha = cv2.GaussianBlur(alpha[..., 0], (0, 0), roughness)[..., None]
        colour = premultiplied / np.maximum(alpha, 1e-4)
    region = background[y1 : y1 + reach, x0:x1].astype(np.float32)
    tint = np.asarray(plan.surface_colour, np.float32)
    colour = colour * 0.85 + tint * 0.15 * (colour / 255.0)
    mixed = region + (colour - region) * alpha
    background[y1 : y1 + reach, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return background


def _ripple(layer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = layer.shape[:2]
    xs, ys = noise.pixel_grid(height, width)
    phase = float(rng.uniform(0, 6.3))
    period = max(3.0, height / 9.0)
    offset = np.sin(ys / np.float32(period) * np.float32(2 * math.pi) + np.float32(phase)) * (1.0 + ys * 0.04)
    return cv2.remap(layer, xs + offset, ys, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def shadow_facts(job: RenderJob, plan: ScenePlan, character: LightCharacter) -> ShadowFacts | None:
    """How the product's shadow falls in this plan (None when shadows are off): the plan's light,
    weakened on glossy floors, softened by the light's character, tinted by the floor."""
    spec = job.scene.shadow
    if not spec.enabled or _product_extent(job) is None:
        return None
    opacity = spec.opacity * character.shadow_opacity * (1.0 - 0.45 * plan.gloss)
    softness = float(np.clip(spec.softness * character.shadow_softness, 0.0, 1.0))
    return ShadowFacts(
        view="top" if plan.view == "top" else "front",
        light_angle=plan.light_angle,
        opacity=opacity,
        softness=softness,
        tint=shadow_tint(plan),
    )


def shadow_tint(plan: ScenePlan) -> colours.RGB:
    """Shadows take a deep shade of the surface they fall on (never pure grey on a coloured floor)."""
    base = plan.surface_colour
    return (round(base[0] * 0.16), round(base[1] * 0.15), round(base[2] * 0.15))


def render_scene(
    plan: ScenePlan,
    quality: Quality,
    job: RenderJob,
    rng: np.random.Generator,
    guide: TemplateGuide | None = None,
) -> RenderedScene:
    """The full recipe: work-resolution scene, canvas upsample with grain, reflection; and how the
    product's shadow falls (drawn by the pipeline's shadow step)."""
    character = LIGHTS[plan.lighting]
    work = _work_canvas(job, quality, plan.view)
    softness = float(np.clip(job.scene.shadow.softness * character.shadow_softness, 0.0, 1.0))
    info: dict[str, object] = {
        "engine": "studio",
        "view": plan.view,
        "surface": plan.surface,
        "wall": plan.wall,
        "backdrop": plan.backdrop,
        "lighting": plan.lighting,
        "light_angle": round(plan.light_angle, 1),
        "recognised": list(plan.recognised),
        "props": list(plan.props),
        "concepts": list(plan.concepts),
    }
    shadow = shadow_facts(job, plan, character)
    if job.scene.transparent:
        background = compose.solid(job.width, job.height, shadow_tint(plan), alpha=0)
        return RenderedScene(background=background, info=info, shadow=shadow)
    if plan.view == "top":
        image = render_top(plan, quality, work, job, rng, character, softness, guide)
    else:
        image, geo = render_front(plan, quality, work, job, rng, character, softness, guide)
        info["horizon_row"] = round(geo.junction / work.scale_y)
    rgb = to_canvas(image, job, quality, rng)
    rgb = reflect_product(rgb, job, plan, rng)
    background = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    return RenderedScene(background=background, light_wrap=character.light_wrap, info=info, shadow=shadow)
