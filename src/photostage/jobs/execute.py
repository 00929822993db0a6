"""Running one job: the same code under the local thread pool and under Celery.

    claim (lease) ─► rebuild the request (seed fixed at acceptance) ─► run the scene pipeline
    with progress reports and a heartbeat ─► finish DONE/ERROR as lease holder ─► nudge webhooks

Re-running is safe: outputs are named by job id and index (``{job_id}_{i}.{ext}`` in a
destination folder; one temporary file per job and index), so a rerun after a crash overwrites
what the first attempt wrote instead of adding to it, and renders the same pixels (same seed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from photostage.contract.errors import INTERNAL, VALIDATION, PhotostageError, details_from_validation
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import ScenePipelineResponseOut
from photostage.jobs.models import DONE, ERROR
from photostage.jobs.options import JobOptions
from photostage.jobs.store import JobRecord, JobStore
from photostage.observability.logs import JOB_ID
from photostage.scenes.base import RenderStopped
from photostage.storage.tmp import NAME_PATTERN, TmpObject

log = logging.getLogger("photostage.jobs")

Progress = Callable[[str, float], None]


class ScenePipeline(Protocol):
    """What a job needs of :class:`photostage.pipeline.runner.SceneRunner`."""

    def run(
        self, request: SceneCreateAPIIn, *, account_id: int, request_id: str, progress: Progress | None = None,
        stop: Callable[[], None] | None = None,
    ) -> ScenePipelineResponseOut: ...


class TmpDirectory(Protocol):
    """What jobs need of :class:`photostage.storage.tmp.TmpStore`."""

    ttl_s: int

    def url(self, name: str, expires: int) -> str: ...
    def write(self, name: str, data: bytes) -> None: ...
    def remove_token(self, token: str) -> None: ...


class JobAborted(RenderStopped):
    """The job was cancelled, or this worker lost its lease: stop without writing an outcome."""


class JobResultsTmp:
    """Temporary results of jobs under names fixed by job id and index: a rerun replaces the
    file of the earlier attempt rather than leaving a second one behind."""

    def __init__(self, tmp: TmpDirectory, clock: Callable[[], float] = time.time) -> None:
        self.tmp = tmp
        self.clock = clock

    def put(self, data: bytes, ext: str, request_id: str, index: int) -> TmpObject:
        token = hashlib.sha256(f"{request_id}:{index}".encode()).hexdigest()[:16]
        self.tmp.remove_token(token)
        expires = int(self.clock()) + self.tmp.ttl_s
        name = f"{expires}-{token}-{request_id[:64]}_{index}.{ext.lower().lstrip('.')}"
        if NAME_PATTERN.fullmatch(name) is None:
            raise ValueError(f"not a temporary result name: {name!r}")
        self.tmp.write(name, data)
        return TmpObject(
            name=name, url=self.tmp.url(name, expires), expires_at=datetime.fromtimestamp(expires, UTC)
        )


def worker_identity() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class LeaseKeeper:
    """Renews a job's lease every third of it while the pipeline runs (a long render makes no
    progress reports); ``lost`` is set when the job was cancelled or taken over, when it was handed
    back (the worker is stopping), or when it hung: a job still running ``request_deadline_s +
    hung_margin_s`` after it started stops renewing (its lease runs out and another worker retries
    it) and is cancelled at its next step."""

    store: JobStore
    job_id: str
    owner: str
    options: JobOptions
    clock: Callable[[], float] = time.monotonic
    lost: threading.Event = field(default_factory=threading.Event)
    hung: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> LeaseKeeper:
        self._started = self.clock()
        self._thread = threading.Thread(
            target=self._beat, name=f"photostage-lease-{self.job_id[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def give_up_at(self) -> float:
        return self._started + self.options.request_deadline_s + self.options.hung_margin_s

    def beat(self) -> bool:
        """One heartbeat; False when the lease is no longer renewed (lost, or the job hung)."""
        if self.clock() >= self.give_up_at:
            log.warning(
                "job %s: still running %.0f s past its deadline; no longer renewing its lease (it will be "
                "retried) and cancelling it at its next step", self.job_id, self.options.hung_margin_s,
            )
            self.hung.set()
            self.lost.set()
            return False
        try:
            held = self.store.renew(self.job_id, self.owner, self.options.lease_s)
        except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has slack
            log.exception("lease renewal of job %s failed", self.job_id)
            return True
        if not held:
            self.lost.set()
        return held

    def _beat(self) -> None:
        while not self._stop.wait(self.options.heartbeat_s):
            if self.lost.is_set() or not self.beat():
                return


@dataclass(frozen=True)
class Running:
    owner: str
    lease: LeaseKeeper


def request_for(job: JobRecord) -> SceneCreateAPIIn:
    """The accepted request, rendering with the seed fixed at acceptance when it gave none."""
    request = SceneCreateAPIIn.model_validate(job.request)
    if request.scene.seed is None:
        request = request.model_copy(update={"scene": request.scene.model_copy(update={"seed": job.seed})})
    return request


class JobExecutor:
    def __init__(
        self,
        store: JobStore,
        pipeline: ScenePipeline,
        options: JobOptions,
        on_final: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.options = options
        self.on_final = on_final
        # Told how each run ended (the metrics count them): outcome, stage timings when DONE,
        # the error body and its HTTP status when ERROR.
        self.on_outcome: Callable[[str, dict[str, float] | None, dict[str, object] | None, int | None], None] = (
            lambda outcome, profiling, error, status: None
        )
        self.clock: Callable[[], float] = time.monotonic
        self.stopping = threading.Event()  # set when the process stops: no new job is taken
        self.on_handed_back: Callable[[str], None] = lambda job_id: None  # dispatches it again
        # A message taken after the stop began: its job is untouched (ACCEPTED) but the message is
        # consumed; a broker runner sends it again at once rather than after redispatch_after_s.
        self.on_refused_while_stopping: Callable[[str], None] = lambda job_id: None
        self._running: dict[str, Running] = {}
        self._running_lock = threading.Lock()
        self._idle = threading.Condition(self._running_lock)

    def running(self) -> list[str]:
        with self._running_lock:
            return list(self._running)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no job runs here (True), or ``timeout_s`` passed (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=timeout_s)

    def hand_back(self) -> list[str]:
        """Give every job running here back to the queue now (the worker is stopping): each goes
        back to ACCEPTED for another worker, and its pipeline is cancelled at its next step.
        Returns the ids handed back (to dispatch again)."""
        with self._running_lock:
            running = dict(self._running)
        handed: list[str] = []
        for job_id, entry in running.items():
            entry.lease.lost.set()
            if self.store.hand_back(job_id, entry.owner):
                log.info("job %s: handed back to the queue (worker stopping)", job_id)
                handed.append(job_id)
                self.on_outcome("handed_back", None, None, None)
        return handed

    def execute(self, job_id: str) -> str:
        """Run the job if nobody else holds it; returns what happened (``DONE``, ``ERROR``,
        ``aborted``, or why it was skipped: ``final``, ``leased``, ``missing``, ``exhausted``)."""
        if self.stopping.is_set():
            self.on_refused_while_stopping(job_id)
            return "stopping"  # left ACCEPTED for another worker
        owner = worker_identity()
        lease = LeaseKeeper(self.store, job_id, owner, self.options, clock=self.clock)
        # Known as running before the claim, so a stop that begins while it is being claimed
        # hands it back rather than letting it run on in a stopping process.
        with self._running_lock:
            self._running[job_id] = Running(owner, lease)
        try:
            claim = self.store.claim(job_id, owner, self.options.lease_s, self.options.max_attempts)
            if claim.job is None:
                if claim.reason == "exhausted":
                    self.give_up(job_id)
                return claim.reason
            if lease.lost.is_set():  # the process began stopping while the job was claimed
                if self.store.hand_back(job_id, owner):
                    self.on_outcome("handed_back", None, None, None)
                    self.on_handed_back(job_id)
                return "handed_back"
            log.info("job %s: attempt %d by %s", job_id, claim.job.attempts, owner)
            token = JOB_ID.set(job_id)
            try:
                with lease:
                    outcome = self._run(claim.job, owner, lease)
            finally:
                JOB_ID.reset(token)
        finally:
            with self._idle:
                self._running.pop(job_id, None)
                self._idle.notify_all()
        if outcome in (DONE, ERROR):
            self.on_final()
        return outcome

    def _run(self, job: JobRecord, owner: str, lease: LeaseKeeper) -> str:
        last_write = time.monotonic()

        def progress(stage: str, fraction: float) -> None:
            nonlocal last_write
            if lease.lost.is_set():
                raise JobAborted(job.id)
            if time.monotonic() - last_write < self.options.progress_interval_s:
                return
            last_write = time.monotonic()
            if not self.store.report(job.id, owner, stage, fraction, self.options.lease_s):
                raise JobAborted(job.id)

        def still_held() -> None:
            """Asked between an engine's long steps (denoising): a cancelled job stops there."""
            if lease.lost.is_set():
                raise JobAborted(job.id)

        try:
            request = request_for(job)
            result = self.pipeline.run(
                request, account_id=job.account_id, request_id=job.id, progress=progress, stop=still_held
            )
        except JobAborted:
            log.info("job %s: cancelled or taken over; stopping", job.id)
            self.on_outcome("aborted", None, None, None)
            return "aborted"
        except ValidationError as error:
            failure = PhotostageError(VALIDATION, details=details_from_validation(list(error.errors())))
            return self._fail(job.id, owner, failure)
        except PhotostageError as error:
            return self._fail(job.id, owner, error)
        except Exception:  # noqa: BLE001 - any failure ends the job in the contract's format
            log.exception("job %s failed", job.id)
            return self._fail(job.id, owner, PhotostageError(INTERNAL))
        outcome = self._end(job.id, owner, DONE, result.model_dump(mode="json"), None)
        self.on_outcome(outcome, dict(result.profiling) if outcome == DONE else None, None, None)
        return outcome

    def _fail(self, job_id: str, owner: str, error: PhotostageError) -> str:
        body = error.body().model_dump()
        outcome = self._end(job_id, owner, ERROR, None, body)
        self.on_outcome(outcome, None, body if outcome == ERROR else None, error.status)
        return outcome

    def _end(
        self, job_id: str, owner: str, status: str, result: dict[str, object] | None, error: dict[str, object] | None
    ) -> str:
        if self.store.finish(job_id, owner, status, result, error) is None:
            log.info("job %s: finished but no longer held (cancelled or taken over)", job_id)
            return "aborted"
        return status

    def give_up(self, job_id: str) -> None:
        """A job every attempt of which died with its worker ends in ERROR rather than looping."""
        message = f"The job was given up after {self.options.max_attempts} attempts that did not finish."
        error = PhotostageError(INTERNAL, message=message).body().model_dump()
        if self.store.finish(job_id, None, ERROR, None, error) is not None:
            log.warning("job %s: given up after %d attempts", job_id, self.options.max_attempts)
            self.on_final()
