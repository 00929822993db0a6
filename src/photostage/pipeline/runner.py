"""The runner: carries a request through the step list (:data:`photostage.pipeline.steps.STEPS`)
and ends in a typed result.

Every step is wrapped alike: timed into ``profiling`` (image steps summed over the images), its
progress reported as it starts, and the request's deadline checked after it. Consecutive image
steps run per output image on a small thread pool (OpenCV and the codecs release the GIL), sized
by ``limits.workers``; the same pool renders images one by one for engines that do not batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from photostage.config import Settings
from photostage.contract.errors import DEADLINE, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import PipelineInputObject, ScenePipelineResponseOut
from photostage.cutout.base import CutoutEngine
from photostage.pipeline.steps import STEPS, ImageStep, Step
from photostage.pipeline.work import ImageWork, SceneWork, Storages, TmpResults, Tools
from photostage.scenes.base import RenderControl, StopCheck
from photostage.scenes.registry import SceneEngines
from photostage.sources.reader import SourceReader
from photostage.storage.uri import parse_storage_uri

Progress = Callable[[str, float], None]


def _silent(stage: str, fraction: float) -> None:
    """Progress nobody listens to."""


@dataclass
class Stopwatch:
    """The run's ``profiling`` (milliseconds per step) and its deadline; safe across the pool's threads."""

    deadline: float
    timings: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    now: Callable[[], float] = time.monotonic

    def check(self, where: str) -> None:
        """Refuse to go on past the deadline."""
        if self.now() > self.deadline:
            raise PhotostageError(DEADLINE, details={"request": [f"deadline passed {where}"]})

    def timed(self, stage: str, action: Callable[[], None]) -> None:
        """Run ``action``, add its time to ``stage``, then refuse to go on past the deadline."""
        started = time.perf_counter()
        action()
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.timings[stage] = round(self.timings.get(stage, 0.0) + elapsed, 3)
        self.check(f"after {stage}")


@dataclass(frozen=True)
class ImagePhase:
    """Consecutive image steps, run per image; progress reaches ``progress_to`` when all are done."""

    steps: tuple[ImageStep, ...]
    progress_to: float


def phases(steps: Sequence[Step | ImageStep]) -> tuple[Step | ImagePhase, ...]:
    """The step list with each run of image steps gathered into one :class:`ImagePhase`."""
    out: list[Step | ImagePhase] = []
    pending: list[ImageStep] = []
    for position, step in enumerate([*steps, None]):
        if isinstance(step, ImageStep):
            pending.append(step)
            continue
        if pending:
            later = [s.progress for s in steps[position:] if isinstance(s, Step) and s.progress is not None]
            out.append(ImagePhase(tuple(pending), later[0] if later else 1.0))
            pending = []
        if step is not None:
            out.append(step)
    return tuple(out)


@dataclass
class Reporter:
    """Progress as the steps go: each step's own fraction as it starts; the image phase moves from
    the last fraction reported toward the next step's as each image is done."""

    report: Progress
    stage: str = "start"
    fraction: float = 0.0

    def starting(self, step: Step) -> None:
        if step.progress is not None:
            self.stage, self.fraction = step.name, step.progress
            self.report(step.name, step.progress)

    def image_done(self, phase: ImagePhase, done: int, count: int) -> None:
        self.report(self.stage, self.fraction + (phase.progress_to - self.fraction) * done / count)


class SceneRunner:
    """Runs the steps for one request at a time per call; calls may come from many threads."""

    def __init__(
        self,
        settings: Settings,
        reader: SourceReader,
        storages: Storages,
        tmp: TmpResults,
        engines: SceneEngines,
        cutout_engine: CutoutEngine,
        steps: Sequence[Step | ImageStep] = STEPS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.storages = storages
        self.tmp = tmp
        self.engines = engines
        self.cutout_engine = cutout_engine
        self.phases = phases(steps)
        self.clock = clock
        self.executor = ThreadPoolExecutor(max_workers=settings.limits.workers, thread_name_prefix="photostage-image")

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def read_source(self, url: str, account_id: int, field_name: str) -> bytes:
        if url.startswith("storage://"):
            name, path = parse_storage_uri(url)
            return self.storages.resolve(account_id, name).read(path, self.settings.limits.max_input_bytes)
        return self.reader.read(url, field=field_name)

    def upload(self, url: str, data: bytes, media_type: str) -> None:
        self.reader.upload(url, data, media_type)

    def run(
        self,
        request: SceneCreateAPIIn,
        *,
        account_id: int,
        request_id: str,
        progress: Progress | None = None,
        results: TmpResults | None = None,
        stop: StopCheck | None = None,
        may_queue: bool = False,
    ) -> ScenePipelineResponseOut:
        """Carry ``request`` through the steps. ``results`` receives the images that have no
        destination (default: the server's signed temporary results). ``stop`` raises when the work
        is no longer wanted (the client left, the job was cancelled); engines that work in long
        steps ask it, and the deadline, between them. ``may_queue``: wait for a busy GPU (jobs)."""
        limits = self.settings.limits
        clock = Stopwatch(deadline=self.clock() + limits.request_deadline_s, now=self.clock)
        reporter = Reporter(progress or _silent)
        tools = Tools(
            limits=limits, cutout_mode=self.settings.cutout.mode,
            cutout_min_confidence=self.settings.cutout.min_confidence, read_source=self.read_source, upload=self.upload,
            cutout_engine=self.cutout_engine, engines=self.engines, storages=self.storages,
            results=results or self.tmp, each=self.executor.map,
        )
        def still_wanted() -> None:
            if stop is not None:
                stop()
            clock.check("while the scene was being rendered")

        work = SceneWork(request=request, account_id=account_id, request_id=request_id,
                         control=RenderControl(stop=still_wanted, may_queue=may_queue))
        for phase in self.phases:
            if isinstance(phase, Step):
                reporter.starting(phase)
                clock.timed(phase.name, partial(phase.run, tools, work))
            else:
                self._per_image(phase, tools, work, clock, reporter)
        reporter.report("done", 1.0)
        image = work.image
        return ScenePipelineResponseOut(
            input=PipelineInputObject(
                ext=image.ext, mps=image.mps, mime=image.mime, format=image.format,
                width=image.width, height=image.height,
            ),
            output=work.outputs,
            profiling={**clock.timings, **work.notes},
        )

    def _per_image(
        self, phase: ImagePhase, tools: Tools, work: SceneWork, clock: Stopwatch, reporter: Reporter
    ) -> None:
        """The phase's steps, image by image on the pool; the full-size arrays of an image are
        dropped once its last step ran."""

        def finish(image: ImageWork) -> None:
            for step in phase.steps:
                clock.timed(step.name, partial(step.run, tools, work, image))
            image.release_pixels()

        futures: list[Future[None]] = [self.executor.submit(finish, image) for image in work.images]
        try:
            for done, future in enumerate(futures, start=1):
                future.result()
                reporter.image_done(phase, done, len(futures))
        finally:
            for future in futures:
                future.cancel()
