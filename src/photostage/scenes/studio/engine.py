"""`studio`: the built-in procedural scene engine (no weights, runs everywhere, deterministic).

Prompt scenes are read (:mod:`prompt`), planned (:mod:`plan`) and rendered (:mod:`render`);
template scenes in ``transform`` and ``adjust`` modes go through :mod:`templates`. Effects and
locked templates belong to the builtin engine and are passed to it.
"""

from __future__ import annotations

import numpy as np

from photostage.scenes.base import RenderedScene, RenderJob
from photostage.scenes.effect import BuiltinEngine
from photostage.scenes.studio import templates
from photostage.scenes.studio.plan import ScenePlan, plan_scene
from photostage.scenes.studio.prompt import PromptTerms, parse_prompt
from photostage.scenes.studio.quality import quality_for
from photostage.scenes.studio.render import render_scene

_SEED_MASK = (1 << 64) - 1


def generators(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (planning, rendering) generators for one output image: same seed and index,
    same bytes; another seed or index, another variation."""
    root = np.random.SeedSequence([seed & _SEED_MASK, index & _SEED_MASK])
    planning, rendering = root.spawn(2)
    return np.random.Generator(np.random.PCG64(planning)), np.random.Generator(np.random.PCG64(rendering))


def plan_for(job: RenderJob, planning: np.random.Generator) -> tuple[ScenePlan, PromptTerms]:
    scene = job.scene
    terms = parse_prompt(scene.prompt)
    plan = plan_scene(
        terms,
        parse_prompt(scene.negative_prompt),
        scene.color,
        scene.view,
        scene.shadow.light_angle,
        planning,
    )
    return plan, terms


class StudioEngine:
    """Procedural product-photography backdrops: materials, perspective, light, shadows."""

    name = "studio"

    def available(self) -> bool:
        return True

    def render(self, job: RenderJob) -> RenderedScene:
        scene = job.scene
        if scene.kind == "effect" or (scene.kind == "template" and scene.template_mode == "lock"):
            return BuiltinEngine().render(job)
        planning, rendering = generators(job.seed, job.index)
        plan, terms = plan_for(job, planning)
        quality = quality_for(scene.preference, scene.steps)
        if scene.kind == "prompt":
            return render_scene(plan, quality, job, rendering)
        if scene.kind == "template" and scene.template is not None:
            if scene.template_mode == "adjust":
                return templates.adjust(plan, terms, quality, job, rendering)
            layout = templates.analyse_template(scene.template)
            followed = templates.follow_template(plan, layout, terms, scene.view)
            return templates.transform(followed, layout, quality, job, rendering)
        raise ValueError(f"the studio engine cannot render a {scene.kind!r} scene without a template")
