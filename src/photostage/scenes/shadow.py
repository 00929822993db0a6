"""The product's shadow on a rendered scene, drawn from the scene's :class:`ShadowFacts`.

Engines say where the light comes from and how the ground takes a shadow; this draws it, the same
way for every engine (the pipeline's ``shadow`` step). Three kinds of backdrop take it differently:
an opaque scene is darkened toward the shadow's tint, a transparent one becomes the shadow alone
(an alpha layer), and a partly transparent colour gets the shadow composited over it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from photostage.imaging import shadows
from photostage.scenes.base import PlacedObject, RenderedScene, RenderJob, SceneSpec


def cast_shadow(rendered: RenderedScene, product: PlacedObject, scene: SceneSpec) -> np.ndarray:
    """``rendered.background`` with the product's shadow; unchanged when the scene has none."""
    facts = rendered.shadow
    if facts is None:
        return rendered.background
    density = shadows.shadow_density(
        product.alpha, product.box, facts.view, facts.light_angle, facts.opacity, facts.softness, facts.length
    )
    if scene.transparent:
        return shadows.shadow_alpha_layer(density, facts.tint)
    if facts.top_up:
        density = shadows.top_up_density(density, np.ascontiguousarray(rendered.background[..., :3]))
    if scene.background_alpha < 255:
        return shadows.shadow_over_translucent(rendered.background, density)
    return shadows.apply_shadow(rendered.background, density, facts.tint)


def with_shadow(rendered: RenderedScene, job: RenderJob) -> RenderedScene:
    """The rendered scene as it looks with the product's shadow drawn (for previews and studies of
    one engine; the pipeline draws it in its own step)."""
    background = cast_shadow(rendered, job.product, job.scene)
    return dataclasses.replace(rendered, background=background, shadow=None)
