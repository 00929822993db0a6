"""The scene engine protocol and the typed values that cross it.

An engine renders the *background* of one output image: the scene without the product, with the
facts the pipeline needs to draw the product's shadow on it (:class:`ShadowFacts`). The pipeline
then draws the shadow and composites the product on top, exactly (product fidelity): an engine
cannot alter the product's pixels even if it wanted to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from photostage.imaging.analysis import SceneFacts

SceneKind = Literal["prompt", "template", "effect"]
View = Literal["auto", "top", "front"]
TemplateMode = Literal["transform", "adjust", "lock"]
Preference = Literal["fast", "optimal", "best"]
ShadowView = Literal["front", "top"]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ShadowSpec:
    enabled: bool = True
    opacity: float = 0.6
    softness: float = 0.5
    light_angle: float | None = None  # degrees clockwise from top the light comes from; None = engine's


@dataclass(frozen=True)
class PlacedObject:
    """The cut-out product placed on the canvas.

    ``rgba`` is a canvas-sized (H, W, 4) uint8 layer with straight (non-premultiplied) alpha,
    transparent outside the product. ``box`` is (x0, y0, x1, y1), exclusive ends, of alpha > 0.
    """

    rgba: np.ndarray
    box: tuple[int, int, int, int]
    # The product's own pixels (width, height of the cut-out as placed, after any rotation) and the
    # linear factor they were resized by to their size here (above 1: enlarged, so softer).
    source_size: tuple[int, int] = (0, 0)
    enlargement: float = 1.0

    @property
    def alpha(self) -> np.ndarray:
        return self.rgba[..., 3]


@dataclass(frozen=True)
class SceneSpec:
    """What the request asks of the scene, resolved and typed (no wire types)."""

    kind: SceneKind
    prompt: str | None = None
    negative_prompt: str | None = None
    color: RGB | None = None
    transparent: bool = False
    background_alpha: int = 255  # an effect background's opacity, from a #rrggbbaa / rgba() colour
    view: View = "auto"
    template: np.ndarray | None = None  # (h, w, 3) uint8 RGB as decoded, not yet fitted
    template_facts: SceneFacts | None = None  # the template analysed once per request (None: not yet)
    harmonize: float = 0.0  # opt-in harmonisation strength (0: the product's pixels exactly as they are)
    template_mode: TemplateMode = "transform"
    steps: int | None = None
    preference: Preference = "optimal"
    shadow: ShadowSpec = field(default_factory=ShadowSpec)
    model: str = "v1"
    model_options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderJob:
    scene: SceneSpec
    width: int
    height: int
    product: PlacedObject
    seed: int
    index: int = 0


@dataclass(frozen=True)
class ShadowFacts:
    """What the pipeline's ``shadow`` step needs to draw the product's shadow on a rendered scene.

    ``view``: how the camera sees the ground (``front``: standing on a floor; ``top``: flat lay).
    ``light_angle``: where the key light comes from, degrees clockwise from the top of the image.
    ``opacity``/``softness``/``length``: the shadow's strength, diffusion and reach (see
    :func:`photostage.imaging.shadows.shadow_density`). ``tint``: the colour the shadow darkens
    toward (a deep shade of the floor). ``top_up``: the scene already holds shadows of its own (a
    painted scene): only what they lack is added.
    """

    view: ShadowView
    light_angle: float
    opacity: float
    softness: float
    length: float = 1.0
    tint: RGB = (0, 0, 0)
    top_up: bool = False


@dataclass
class RenderedScene:
    """An engine's result: the scene behind the product, without the product and its shadow.

    ``background`` is (H, W, 4) uint8 RGBA (alpha 255 unless the scene is transparent).
    ``shadow`` tells the ``shadow`` step how the product's shadow falls on it; None draws none
    (shadows off, or an engine whose scene already shows them). ``light_wrap`` (0–1) asks the
    pipeline to let the scene's light spill onto the product's soft edge (pixels with
    0 < alpha < 255 only: opaque product pixels are never touched).
    """

    background: np.ndarray
    light_wrap: float = 0.0
    info: dict[str, object] = field(default_factory=dict)
    shadow: ShadowFacts | None = None


Each = Callable[[Callable[[RenderJob], RenderedScene], Sequence[RenderJob]], Iterable[RenderedScene]]
StopCheck = Callable[[], None]  # raises to abandon a render


class RenderStopped(Exception):  # noqa: N818 - a signal, not an error
    """What a stop check raises when the work is no longer wanted (the client left, the job was
    cancelled). It passes through the engines' safety net untouched, to whoever asked to stop."""


@dataclass(frozen=True)
class RenderControl:
    """How the pipeline steers a render from outside.

    ``stop`` raises to abandon the render: the request's deadline passed, its client left, its job
    was cancelled. Engines that work in long steps (a diffusion model's denoising) call it between
    them. ``may_queue``: the caller may wait for a busy device however long its queue (async jobs,
    bounded by the job queue); synchronous requests are refused with 503 instead.
    """

    stop: StopCheck | None = None
    may_queue: bool = False

    def check(self) -> None:
        if self.stop is not None:
            self.stop()


@runtime_checkable
class SceneEngine(Protocol):
    """A scene engine renders the background of output images (see :class:`RenderedScene`).

    Engines subclass this protocol to inherit ``render_many``, which renders each job on its own
    through ``each`` (the pipeline passes its thread pool's ``map``); an engine that renders a batch
    better together (a diffusion model) overrides it. Which engine renders what is decided by the
    registry (:mod:`photostage.scenes.registry`) alone.
    """

    name: str

    def available(self) -> bool:
        """Whether the engine can run here (weights present, dependencies importable)."""
        ...

    def render(self, job: RenderJob) -> RenderedScene:
        ...

    def render_many(
        self, jobs: Sequence[RenderJob], each: Each = map, control: RenderControl | None = None
    ) -> list[RenderedScene]:
        """Every job's scene, in order; ``control.stop`` is asked before each one."""
        if control is None or control.stop is None:
            return list(each(self.render, jobs))
        check = control.check

        def render(job: RenderJob) -> RenderedScene:
            check()
            return self.render(job)

        return list(each(render, jobs))


class OneByOne(SceneEngine):
    """An engine written with ``render`` alone (a plugin's), given the protocol's ``render_many``."""

    def __init__(self, engine: SceneEngine) -> None:
        self.engine = engine
        self.name = engine.name

    def available(self) -> bool:
        return self.engine.available()

    def render(self, job: RenderJob) -> RenderedScene:
        return self.engine.render(job)


def with_render_many(engine: SceneEngine) -> SceneEngine:
    """``engine`` as the pipeline calls it: with ``render_many`` (its own, or one by one)."""
    return engine if isinstance(engine, SceneEngine) else OneByOne(engine)


def needs_no_generation(scene: SceneSpec) -> bool:
    """Effects and locked templates: nothing to generate, so the built-in engine renders them
    whatever the model (the registry routes them there)."""
    return scene.kind == "effect" or (scene.kind == "template" and scene.template_mode == "lock")
