"""The non-generative scenes: `effect: shadows` and `template_mode: lock`.

Both are deterministic: a solid colour (or transparent) backdrop, or the template fitted to the
canvas, with the product's contact and cast shadows. No engine weights are involved, so every
model name can render them.
"""

from __future__ import annotations

import numpy as np

from photostage.imaging import compose, shadows
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneSpec

DEFAULT_EFFECT_COLOR = (255, 255, 255)
DEFAULT_LIGHT_ANGLE = 315.0  # key light from the upper left, the catalog convention


def resolve_view(view: str, product: PlacedObject) -> str:
    """`auto` → `front` for objects that stand (taller than a third of their width), else `top`."""
    if view in ("top", "front"):
        return view
    x0, y0, x1, y1 = product.box
    return "front" if (y1 - y0) >= (x1 - x0) / 3 else "top"


def _density(job: RenderJob, view: str) -> np.ndarray:
    spec = job.scene.shadow
    angle = spec.light_angle if spec.light_angle is not None else DEFAULT_LIGHT_ANGLE
    return shadows.shadow_density(
        job.product.alpha, job.product.box, view, angle, spec.opacity, spec.softness
    )


class BuiltinEngine:
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
        density = _density(job, view) if scene.shadow.enabled else None
        if scene.transparent:
            if density is None:
                background = compose.solid(job.width, job.height, (0, 0, 0), alpha=0)
            else:
                background = shadows.shadow_alpha_layer(density)
            return RenderedScene(background=background, info={"view": view})
        color = scene.color or DEFAULT_EFFECT_COLOR
        background = compose.solid(job.width, job.height, color)
        if density is not None:
            background = shadows.apply_shadow(background, density)
        return RenderedScene(background=background, info={"view": view})

    def _locked_template(self, job: RenderJob, scene: SceneSpec) -> RenderedScene:
        assert scene.template is not None
        view = resolve_view(scene.view, job.product)
        fitted = compose.cover_fit(scene.template, job.width, job.height)
        background = compose.solid(job.width, job.height, (0, 0, 0))
        background[..., :3] = fitted
        if scene.shadow.enabled:
            background = shadows.apply_shadow(background, _density(job, view))
        return RenderedScene(background=background, light_wrap=0.35, info={"view": view})
