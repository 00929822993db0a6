"""`studio`: the built-in procedural scene engine (no weights, runs everywhere, deterministic).

Prompt scenes are read (:mod:`prompt`), planned (:mod:`plan`) and rendered (:mod:`render`);
template scenes in ``transform`` and ``adjust`` modes go through :mod:`templates`. Effects and
locked templates never reach it: the registry sends them to the builtin engine.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from photostage.scenes.base import RenderedScene, RenderJob, SceneEngine, needs_no_generation
from photostage.scenes.studio import templates
from photostage.scenes.studio.concepts import ConceptIndex
from photostage.scenes.studio.embedding import load_embedder
from photostage.scenes.studio.plan import ScenePlan, plan_scene
from photostage.scenes.studio.prompt import PromptTerms
from photostage.scenes.studio.quality import quality_for
from photostage.scenes.studio.reading import PromptReading, read_prompt
from photostage.scenes.studio.render import render_scene

_SEED_MASK = (1 << 64) - 1


def generators(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (planning, rendering) generators for one output image: same seed and index,
    same bytes; another seed or index, another variation."""
    root = np.random.SeedSequence([seed & _SEED_MASK, index & _SEED_MASK])
    planning, rendering = root.spawn(2)
    return np.random.Generator(np.random.PCG64(planning)), np.random.Generator(np.random.PCG64(rendering))


def plan_for(
    job: RenderJob, planning: np.random.Generator, concepts: ConceptIndex | None = None
) -> tuple[ScenePlan, PromptTerms]:
    scene = job.scene
    reading = read_prompt(scene.prompt, concepts)
    terms = reading.terms
    plan = plan_scene(
        terms,
        read_prompt(scene.negative_prompt, None).terms,
        scene.color,
        scene.view,
        scene.shadow.light_angle,
        planning,
    )
    return plan, terms


class StudioEngine(SceneEngine):
    """Procedural product-photography backdrops: materials, perspective, light, shadows.

    Prompts are read with the offline sentence embedding when its model is installed (or
    ``prompt_model`` names a folder); ``use_embedding=False`` keeps to the keyword vocabulary.
    The model loads on the first prompt, once per process.
    """

    name = "studio"

    def __init__(self, prompt_model: Path | None = None, use_embedding: bool = True) -> None:
        self.prompt_model = prompt_model
        self.use_embedding = use_embedding
        self._concepts: ConceptIndex | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        return True

    def concept_index(self) -> ConceptIndex | None:
        """The prompt concepts embedded with the model, or None (keyword reading)."""
        if not self.use_embedding:
            return None
        with self._lock:
            if not self._loaded:
                embedder = load_embedder(self.prompt_model)
                self._concepts = ConceptIndex(embedder) if embedder is not None else None
                self._loaded = True
        return self._concepts

    def read(self, prompt: str | None) -> PromptReading:
        """How this engine reads ``prompt``: its scene facts, concepts and unused words."""
        return read_prompt(prompt, self.concept_index())

    def render(self, job: RenderJob) -> RenderedScene:
        scene = job.scene
        if needs_no_generation(scene):
            raise ValueError("effects and locked templates are the builtin engine's (the registry routes them)")
        rendered = self._render(job)
        if scene.prompt:
            reading = self.read(scene.prompt)
            rendered.info["prompt_reading"] = reading.method
            rendered.info["unused_words"] = list(reading.unused)
        return rendered

    def _render(self, job: RenderJob) -> RenderedScene:
        scene = job.scene
        planning, rendering = generators(job.seed, job.index)
        plan, terms = plan_for(job, planning, self.concept_index() if scene.prompt else None)
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
