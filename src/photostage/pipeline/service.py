"""Creating scenes, the one way: :meth:`SceneService.create` is what the synchronous route and the
execution of an async job both call, so idempotency, capacity and credits are decided here once.

    create ─► Idempotency-Key (sync: replay a stored answer; 409 while the first one runs)
           ─► a render slot (sync: 503 when the process is full; a job waits for one)
           ─► the engine's own capacity (a full GPU queue, weights still loading: 503 for a
              sync request before anything is spent; a job may queue)
           ─► credits (sync: reserved now, refunded on failure; a job's were reserved when it was
              accepted and are refunded if it ends in ERROR or CANCELLED)
           ─► the steps (:class:`~photostage.pipeline.runner.SceneRunner`) ─► the stored answer

The render slots count renders in flight in this process. The API's door sheds synchronous
requests by counting them too, but a client that hangs up leaves the door's count while its
thread keeps rendering until done, and keeps its slot here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from photostage.accounts import Credits
from photostage.contract.errors import OVERLOADED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import Response_ScenePipelineResponseOut_, ScenePipelineResponseOut
from photostage.idempotency import IdempotencyStore, SyncTicket, check_key, fingerprint
from photostage.pipeline.plan import scene_spec
from photostage.pipeline.work import TmpResults
from photostage.scenes.base import StopCheck
from photostage.scenes.registry import SceneEngines

Progress = Callable[[str, float], None]
RETRY_AFTER_S = 2


class Runner(Protocol):
    def run(
        self, request: SceneCreateAPIIn, *, account_id: int, request_id: str, progress: Progress | None = None,
        results: TmpResults | None = None, stop: StopCheck | None = None, may_queue: bool = False,
    ) -> ScenePipelineResponseOut: ...


@dataclass(frozen=True)
class JobRun:
    """A create on behalf of an accepted job: where its progress and its results go, and its stop
    (raises once the job was cancelled or taken over)."""

    progress: Progress
    results: TmpResults
    stop: StopCheck | None = None


@dataclass(frozen=True)
class Created:
    response: Response_ScenePipelineResponseOut_
    replayed: bool = False  # the stored answer of an earlier request with the same Idempotency-Key


def _silent(stage: str, fraction: float) -> None:
    """Progress nobody listens to."""


class SceneService:
    def __init__(
        self,
        runner: Runner,
        engines: SceneEngines,
        credits: Credits,
        idempotency: IdempotencyStore,
        capacity: threading.BoundedSemaphore,
        request_deadline_s: float,
        observe: Callable[[dict[str, float]], None] = lambda profiling: None,
    ) -> None:
        self.runner = runner
        self.engines = engines
        self.credits = credits
        self.idempotency = idempotency
        self.capacity = capacity
        self.request_deadline_s = request_deadline_s
        self.observe = observe  # the stage timings of a synchronous create (jobs report theirs when they end)

    def create(
        self,
        request: SceneCreateAPIIn,
        *,
        account_id: int,
        request_id: str,
        idempotency_key: str | None = None,
        stop: StopCheck | None = None,
        job: JobRun | None = None,
    ) -> Created:
        """Render ``request`` for ``account_id``: synchronously (``job`` None; ``stop`` raises once
        its client has gone), or as the execution of an accepted job (its key was checked and its
        credits reserved when it was accepted)."""
        ticket = self._begin(account_id, idempotency_key, request) if idempotency_key is not None else None
        if ticket is not None and ticket.replay is not None:
            return Created(Response_ScenePipelineResponseOut_.model_validate(ticket.replay), replayed=True)
        try:
            answer = Response_ScenePipelineResponseOut_(data=self._render(request, account_id, request_id, stop, job))
        except BaseException:
            if ticket is not None and ticket.record_id is not None:
                self.idempotency.abandon_sync(ticket.record_id)
            raise
        if ticket is not None and ticket.record_id is not None:
            self.idempotency.complete_sync(ticket.record_id, answer.model_dump(mode="json"))
        return Created(answer)

    def _begin(self, account_id: int, key: str, request: SceneCreateAPIIn) -> SyncTicket:
        digest = fingerprint({"request": request.model_dump(mode="json")})
        return self.idempotency.begin_sync(
            account_id, check_key(key), digest, stale_after_s=self.request_deadline_s + 60
        )

    def _render(
        self, request: SceneCreateAPIIn, account_id: int, request_id: str, stop: StopCheck | None,
        job: JobRun | None,
    ) -> ScenePipelineResponseOut:
        if not self.capacity.acquire(blocking=job is not None):
            raise PhotostageError(OVERLOADED, headers={"Retry-After": str(RETRY_AFTER_S)})
        try:
            if job is not None:  # a job waits its turn for a busy GPU: the job queue already bounds them
                return self.runner.run(
                    request, account_id=account_id, request_id=request_id, progress=job.progress,
                    results=job.results, stop=job.stop, may_queue=True,
                )
            # GPU work is its own capacity: a full device queue (or weights still loading) is
            # refused here, before credits are reserved or anything is fetched.
            spec, _ = scene_spec(request.scene, {})
            self.engines.check_capacity(spec.model, spec)
            images = request.output_options.number_of_images
            self.credits.reserve(account_id, images)
            try:
                result = self.runner.run(request, account_id=account_id, request_id=request_id, stop=stop)
            except BaseException:
                self.credits.refund(account_id, images)
                raise
            self.observe(result.profiling)
            return result
        finally:
            self.capacity.release()


@dataclass
class JobScenes:
    """What job execution calls (``photostage.jobs.execute.ScenePipeline``): a create on behalf of
    an accepted job, its temporary results named per job and index (a rerun replaces them)."""

    scenes: SceneService
    results: TmpResults

    def run(
        self, request: SceneCreateAPIIn, *, account_id: int, request_id: str, progress: Progress | None = None,
        stop: StopCheck | None = None,
    ) -> ScenePipelineResponseOut:
        job = JobRun(progress=progress or _silent, results=self.results, stop=stop)
        return self.scenes.create(request, account_id=account_id, request_id=request_id, job=job).response.data
