"""What the studio engine contributes to a diffusion scene: layout, light and shadows.

The studio's prompt interpreter decides the view (front/top), the light direction and the floor;
its renderer (at the model's render size) gives the init image, so the painted scene has its
floor line where the product stands and its light where the shadows fall; its light gives the
product's contact and cast shadows, which the pipeline's shadow step tops up on the model's output
where it painted none.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from photostage.imaging import compose
from photostage.scenes.base import PlacedObject, RenderJob, ShadowFacts
from photostage.scenes.diffusion.canvas import neutral_backdrop
from photostage.scenes.diffusion.options import InitSource
from photostage.scenes.shadow import with_shadow
from photostage.scenes.studio import templates
from photostage.scenes.studio.engine import generators, plan_for
from photostage.scenes.studio.lighting import LIGHTS
from photostage.scenes.studio.plan import ScenePlan
from photostage.scenes.studio.quality import quality_for
from photostage.scenes.studio.render import render_scene, shadow_facts

RGB = tuple[int, int, int]
NEUTRAL_GREY: RGB = (206, 202, 196)  # a warm light grey: reads as a seamless paper sweep


@dataclass(frozen=True)
class Staging:
    """The scene's plan around the model call."""

    backdrop: np.ndarray  # (render_h, render_w, 3) uint8 RGB without the product: the init image's scene
    shadow: ShadowFacts | None  # how the product's shadow falls, topped up on the output; None: shadows off
    init: str  # "studio", "neutral" or "template"
    info: dict[str, object]


def _box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scaled_job(job: RenderJob, width: int, height: int) -> RenderJob:
    """The same job at the model's render size: product layer resampled, box recomputed."""
    if (width, height) == (job.width, job.height):
        return job
    rgba = compose.resize(job.product.rgba, width, height)
    product = PlacedObject(rgba=rgba, box=_box(rgba[..., 3]))
    return RenderJob(
        scene=job.scene, width=width, height=height, product=product, seed=job.seed, index=job.index
    )


def _plan(job: RenderJob) -> tuple[ScenePlan, np.random.Generator]:
    planning, rendering = generators(job.seed, job.index)
    plan, terms = plan_for(job, planning)
    if job.scene.kind == "template" and job.scene.template is not None:
        layout = templates.analyse_template(job.scene.template)
        plan = templates.follow_template(plan, layout, terms, job.scene.view)
    return plan, rendering


def _backdrop(
    plan: ScenePlan, render_job: RenderJob, init: InitSource, rendering: np.random.Generator
) -> tuple[np.ndarray, str]:
    """The scene the model starts from, at render size, and where it came from."""
    scene = render_job.scene
    width, height = render_job.width, render_job.height
    if scene.kind == "template" and scene.template is not None:
        return compose.cover_fit(scene.template, width, height), "template"
    if init == "neutral":
        return neutral_backdrop(width, height, scene.color or NEUTRAL_GREY), "neutral"
    rendered = render_scene(plan, quality_for(scene.preference, scene.steps), render_job, rendering)
    return np.ascontiguousarray(with_shadow(rendered, render_job).background[..., :3]), "studio"


def stage(job: RenderJob, render_job: RenderJob, init: InitSource) -> Staging:
    """Plan the scene with the studio engine: the init backdrop at render size, the shadow's light."""
    plan, rendering = _plan(job)
    backdrop, source = _backdrop(plan, render_job, init, rendering)
    shadow = shadow_facts(job, plan, LIGHTS[plan.lighting])
    info: dict[str, object] = {
        "view": plan.view,
        "light_angle": round(plan.light_angle, 1),
        "lighting": plan.lighting,
        "surface": plan.surface,
    }
    topped_up = dataclasses.replace(shadow, top_up=True) if shadow is not None else None
    return Staging(backdrop=backdrop, shadow=topped_up, init=source, info=info)
