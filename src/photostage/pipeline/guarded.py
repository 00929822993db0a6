"""The safety net around engines: a valid image never gets a 5xx because an engine broke.

Engines report what they know as :class:`PhotostageError` (a refusal with its own code, a
misconfiguration); those pass through untouched. Anything else raised inside a cut-out or scene
engine (a solver that did not converge, an array shape an engine did not expect, memory running
out on a huge input) is logged with its traceback and answered with a contract error that says
what happened and what to try, status 422: the request was valid, this server could not do a good
job of it, and it says so instead of answering 500 or a broken picture.

The wrappers keep the engines' protocol (``name``, ``available``, ``extract`` / ``render`` and
``render_many``) and are applied where the engines are built, so every path that runs an engine
(the API, async jobs, the CLI) gets the net.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from photostage.contract.errors import CUTOUT_FAILED, RENDER_FAILED, PhotostageError
from photostage.cutout.base import Cutout, CutoutEngine
from photostage.scenes.base import (
    Each,
    RenderControl,
    RenderedScene,
    RenderJob,
    RenderStopped,
    SceneEngine,
    with_render_many,
)
from photostage.scenes.registry import SceneEngines

log = logging.getLogger("photostage.pipeline")


def cutout_failure(engine: str, error: BaseException, shape: tuple[int, ...]) -> PhotostageError:
    height, width = shape[:2]
    return PhotostageError(
        CUTOUT_FAILED,
        message=f"The {engine} cut-out engine could not separate the product from the background of this "
        f"{width}×{height} image ({type(error).__name__}). Send the product with a transparent background "
        "(PNG/WebP with alpha), or a smaller or tighter-cropped photo.",
        details={"object.image_url": [f"cut-out engine {engine} failed: {type(error).__name__}"]},
    )


def render_failure(engine: str, error: BaseException, job: RenderJob) -> PhotostageError:
    return PhotostageError(
        RENDER_FAILED,
        message=f"The {engine} scene engine could not render image {job.index} of this request "
        f"({type(error).__name__}). Try another scene (prompt, template or effect) or model.",
        details={"scene": [f"scene engine {engine} failed: {type(error).__name__}"]},
    )


@dataclass
class GuardedCutoutEngine:
    """A cut-out engine whose unexpected failures are contract errors (see the module)."""

    inner: CutoutEngine
    name: str = field(init=False)  # the inner engine's (a plain attribute, as the protocol has it)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def available(self) -> bool:
        return self.inner.available()

    def extract(self, rgba: np.ndarray) -> Cutout:
        try:
            return self.inner.extract(rgba)
        except PhotostageError:
            raise
        except Exception as error:  # noqa: BLE001 - the safety net: any engine failure
            log.exception("cut-out engine %s failed on a %s image", self.inner.name, rgba.shape)
            raise cutout_failure(self.inner.name, error, rgba.shape) from error

    def __getattr__(self, attribute: str) -> Any:
        """Everything else an engine offers (its confidence, its label...) is the engine's own."""
        if attribute == "inner":
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)


@dataclass
class GuardedSceneEngine(SceneEngine):
    """A scene engine whose unexpected failures are contract errors (see the module)."""

    inner: SceneEngine
    name: str = field(init=False)  # the inner engine's (a plain attribute, as the protocol has it)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def available(self) -> bool:
        return self.inner.available()

    def render(self, job: RenderJob) -> RenderedScene:
        return self._guarded(self.inner.render, job)

    def render_many(
        self, jobs: Sequence[RenderJob], each: Each = map, control: RenderControl | None = None
    ) -> list[RenderedScene]:
        """The engine's own ``render_many``, each image guarded where the engine renders one by one
        (the failing image is named), the whole batch where it renders them together."""

        def guarded_each(
            render: Callable[[RenderJob], RenderedScene], items: Sequence[RenderJob]
        ) -> Iterable[RenderedScene]:
            return each(lambda job: self._guarded(render, job), items)

        try:
            return with_render_many(self.inner).render_many(jobs, guarded_each, control)
        except (PhotostageError, RenderStopped):  # refusals, and a stop asked for from outside
            raise
        except Exception as error:  # noqa: BLE001 - the safety net: any engine failure
            log.exception("scene engine %s failed on a batch of %d", self.inner.name, len(jobs))
            raise render_failure(self.inner.name, error, jobs[0]) from error

    def _guarded(self, render: Callable[[RenderJob], RenderedScene], job: RenderJob) -> RenderedScene:
        try:
            return render(job)
        except (PhotostageError, RenderStopped):
            raise
        except Exception as error:  # noqa: BLE001 - the safety net: any engine failure
            log.exception("scene engine %s failed on image %d", self.inner.name, job.index)
            raise render_failure(self.inner.name, error, job) from error

    def __getattr__(self, attribute: str) -> Any:
        """Everything else an engine offers (its warm-up, its loaded state...) is the engine's own."""
        if attribute == "inner":
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)


def guard_cutout_engine(engine: CutoutEngine) -> CutoutEngine:
    return engine if isinstance(engine, GuardedCutoutEngine) else GuardedCutoutEngine(engine)


def guard_scene_engines(engines: SceneEngines) -> SceneEngines:
    """The same table with every engine (the built-in effect engine included) behind the net."""

    def guarded(engine: SceneEngine) -> SceneEngine:
        return engine if isinstance(engine, GuardedSceneEngine) else GuardedSceneEngine(engine)

    return replace(
        engines,
        engines={name: guarded(engine) for name, engine in engines.engines.items()},
        builtin=guarded(engines.builtin),
    )
