"""The non-generative scenes: `effect: shadows` and `template_mode: lock`.

Both are deterministic: a solid colour (or transparent) backdrop, or the template fitted to the
canvas, and the light the product's contact and cast shadows follow (drawn by the pipeline's
shadow step). No engine weights are involved, so every model name can render them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photostage.imaging import compose
from photostage.imaging.analysis import SceneFacts, cached_analysis
from photostage.scenes.base import (
    RGB,
    PlacedObject,
    RenderedScene,
    RenderJob,
    SceneEngine,
    SceneSpec,
    ShadowFacts,
    ShadowSpec,
)

DEFAULT_EFFECT_COLOR = (255, 255, 255)
DEFAULT_LIGHT_ANGLE = 315.0  # key light from the upper left, the catalog convention
_SEED_MASK = (1 << 64) - 1
_VARIATION_SALT = 0x5CE7E


def variation_rng(seed: int, index: int, salt: int = _VARIATION_SALT) -> np.random.Generator:
    """The generator of one output image's variation: same (seed, index), same choices."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & _SEED_MASK, index & _SEED_MASK, salt])))


@dataclass(frozen=True)
class ShadowVariation:
    """Where one image's light comes from and how it falls (see :func:`shadow_variation`)."""

    light_angle: float
    softness: float
    length: float


def shadow_variation(
    spec: ShadowSpec, seed: int, index: int, base_angle: float, spread: float = 28.0
) -> ShadowVariation:
    """The light for image ``index`` of a request: image 0 is the requested (or catalog) light;
    every further image moves it, so four images of one request are four different pictures of
    the same product: the key light swings by up to ``spread`` degrees (mirrored left/right when
    the request leaves the angle open), rises or sinks (a shorter or longer cast) and softens
    or hardens a little. A pinned ``light_angle`` keeps its direction; only height and softness move.
    """
    angle = spec.light_angle if spec.light_angle is not None else base_angle
    if index == 0:
        return ShadowVariation(float(angle) % 360.0, spec.softness, 1.0)
    rng = variation_rng(seed, index)
    swing, mirror, height, soft = rng.uniform(-1.0, 1.0), rng.random(), rng.uniform(0.0, 1.0), rng.uniform(-1.0, 1.0)
    if spec.light_angle is None:
        # at least a third of the spread away from image 0, so neighbours never look the same
        swing = np.sign(swing or 1.0) * (spread / 3.0 + abs(swing) * spread * 2.0 / 3.0)
        angle = (360.0 - angle) if mirror < 0.5 else angle
        angle = angle + swing
    length = 0.7 + 0.7 * height  # 0.7–1.4: a higher or lower key light
    softness = float(np.clip(spec.softness + 0.15 * soft, 0.0, 1.0))
    return ShadowVariation(float(angle) % 360.0, softness, float(length))


def template_view(view: str, product: PlacedObject, facts: SceneFacts) -> str:
    """A template's view: as asked, else `top` for a flat template, else by the product's shape."""
    if view in ("top", "front"):
        return view
    return "top" if facts.surface == "flat" else resolve_view(view, product)


def resolve_view(view: str, product: PlacedObject) -> str:
    """`auto` → `front` for objects that stand (taller than a third of their width), else `top`."""
    if view in ("top", "front"):
        return view
    x0, y0, x1, y1 = product.box
    return "front" if (y1 - y0) >= (x1 - x0) / 3 else "top"


def _shadow(
    scene: SceneSpec, view: str, light: ShadowVariation, opacity: float | None = None, tint: RGB = (0, 0, 0)
) -> ShadowFacts | None:
    """How the product's shadow falls (None when shadows are off)."""
    if not scene.shadow.enabled:
        return None
    return ShadowFacts(
        view="top" if view == "top" else "front",
        light_angle=light.light_angle,
        opacity=scene.shadow.opacity if opacity is None else opacity,
        softness=light.softness,
        length=light.length,
        tint=tint,
    )


def template_facts(scene: SceneSpec) -> SceneFacts | None:
    """The template's analysis: the one made for the request, or made (and remembered) now."""
    if scene.template is None:
        return None
    return scene.template_facts if scene.template_facts is not None else cached_analysis(scene.template)


def template_light(
    scene: SceneSpec, job: RenderJob, facts: SceneFacts, spread: float = 25.0
) -> tuple[ShadowVariation, float]:
    """The shadow's light in a template scene: the template's own light (direction, softness,
    strength), varied per image; and the shadow opacity that light gives (flat light, paler shadow)."""
    light = shadow_variation(scene.shadow, job.seed, job.index, facts.light_angle, spread)
    softness = float(np.clip(0.5 * light.softness + 0.5 * facts.softness, 0.0, 1.0))
    opacity = float(np.clip(scene.shadow.opacity * (0.75 + 0.4 * facts.light_strength), 0.0, 1.0))
    return ShadowVariation(light.light_angle, softness, light.length), opacity


def floor_tint(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """A shadow's colour on the floor under ``box``: a deep shade of that floor (never neutral grey
    on a coloured floor)."""
    x0, _, x1, y1 = box
    height = rgb.shape[0]
    under = rgb[min(y1, height - 1) : min(height, y1 + 8), max(0, x0) : max(x0 + 1, x1), :3]
    mean = under.reshape(-1, 3).mean(axis=0) if under.size else np.full(3, 60.0)
    return (round(float(mean[0]) * 0.18), round(float(mean[1]) * 0.18), round(float(mean[2]) * 0.18))


class BuiltinEngine(SceneEngine):
    """Renders effect scenes and locked templates; available everywhere."""

    name = "builtin"

    def available(self) -> bool:
        return True

    def render(self, job: RenderJob) -> RenderedScene:
        scene = job.scene
        if scene.kind == "effect":
            return self._effect(job, scene)
        if scene.kind == "template" and scene.template is not None:
            return self._locked_template(job, scene)
        raise ValueError(f"the builtin engine renders effect and locked template scenes, not {scene.kind}")

    def _effect(self, job: RenderJob, scene: SceneSpec) -> RenderedScene:
        view = resolve_view(scene.view, job.product)
        light = shadow_variation(scene.shadow, job.seed, job.index, DEFAULT_LIGHT_ANGLE)
        info: dict[str, object] = {"view": view, "light_angle": round(light.light_angle, 1)}
        if scene.transparent:
            background = compose.solid(job.width, job.height, (0, 0, 0), alpha=0)
        else:
            color = scene.color or DEFAULT_EFFECT_COLOR
            background = compose.solid(job.width, job.height, color, alpha=scene.background_alpha)
        return RenderedScene(background=background, info=info, shadow=_shadow(scene, view, light))

    def _locked_template(self, job: RenderJob, scene: SceneSpec) -> RenderedScene:
        """The template untouched, with the product's shadow cast by the template's own light."""
        assert scene.template is not None
        facts = template_facts(scene)
        assert facts is not None
        view = template_view(scene.view, job.product, facts)
        light, opacity = template_light(scene, job, facts)
        fitted = compose.cover_fit(scene.template, job.width, job.height)
        background = compose.solid(job.width, job.height, (0, 0, 0))
        background[..., :3] = fitted
        tint = floor_tint(fitted, job.product.box) if scene.shadow.enabled else (0, 0, 0)
        shadow = _shadow(scene, view, light, opacity, tint)
        info: dict[str, object] = {
            "view": view,
            "light_angle": round(light.light_angle, 1),
            "template_surface": facts.surface,
        }
        return RenderedScene(background=background, light_wrap=0.35, info=info, shadow=shadow)
