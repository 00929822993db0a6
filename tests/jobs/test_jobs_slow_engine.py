"""A test-only worker plugin: every model renders through a `slow` engine that waits before
delegating to the studio engine, so a job lasts long enough to kill its worker mid-way while
its images stay exactly the studio engine's (deterministic). Used as
``photostage worker --plugin tests.jobs.test_jobs_slow_engine:install``; the wait per image
comes from ``PHOTOSTAGE_TEST_RENDER_DELAY_S`` (default 1 s)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from photostage.config import ModelEntry
from photostage.scenes.base import RenderedScene, RenderJob, SceneEngine


@dataclass
class SlowEngine:
    inner: SceneEngine
    delay_s: float
    name: str = "slow"

    def available(self) -> bool:
        return self.inner.available()

    def render(self, job: RenderJob) -> RenderedScene:
        time.sleep(self.delay_s)
        return self.inner.render(job)


def install(services) -> None:  # type: ignore[no-untyped-def]
    delay_s = float(os.environ.get("PHOTOSTAGE_TEST_RENDER_DELAY_S", "1.0"))
    services.engines.engines["slow"] = SlowEngine(services.engines.engines["studio"], delay_s)
    for model in list(services.engines.models):
        services.engines.models[model] = ModelEntry(engine="slow")


def test_the_slow_engine_waits_then_renders_like_its_inner_engine() -> None:
    class Inner:
        name = "inner"

        def available(self) -> bool:
            return True

        def render(self, job: RenderJob) -> RenderedScene:
            return RenderedScene(background=None, info={"index": job.index})  # type: ignore[arg-type]

    engine = SlowEngine(Inner(), delay_s=0.05)
    started = time.monotonic()
    rendered = engine.render(RenderJob(scene=None, width=1, height=1, product=None, seed=1, index=3))  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.05 and rendered.info == {"index": 3} and engine.available()
