"""The job service: what the API, the CLI and the workers call. Acceptance (idempotency,
backpressure, credits), reading, cancelling, webhook settings, and the background loops (the
local pool, the lease reaper, the webhook sender), whichever runner is configured.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from photostage.accounts import Credits, KeyStore, Principal
from photostage.config import Settings
from photostage.contract.errors import NOT_FOUND, OVERLOADED, PhotostageError, validation_error
from photostage.contract.jobs import JobOut, JobProgress, PageMeta, WebhookConfigOut, WebhookDeliveryOut
from photostage.contract.request import SceneCreateAPIIn
from photostage.db import Account
from photostage.idempotency import ASYNC_SCOPE, IdempotencyStore, check_key, fingerprint
from photostage.jobs.execute import JobExecutor, ScenePipeline
from photostage.jobs.local import LocalDispatcher
from photostage.jobs.models import CANCELLED, ERROR, JOB_STATUSES, Job
from photostage.jobs.options import JobOptions
from photostage.jobs.store import JobRecord, JobStore, NewJob, to_record
from photostage.sources.policy import SourcePolicy
from photostage.webhooks.delivery import (
    GuardedPoster,
    WebhookSecrets,
    WebhookSender,
    add_delivery,
    check_webhook_url,
)

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("photostage.jobs")

RETRY_AFTER_S = 5


class Dispatcher(Protocol):
    def submit(self, job_id: str) -> None: ...
    def start(self) -> None: ...
    def stop(self, timeout_s: float = 5.0) -> None: ...


@dataclass(frozen=True)
class Submission:
    job: JobOut
    replayed: bool


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobOut]
    meta: PageMeta


PUBLIC_PATHS = ("/v1/tmp/", "/v1/scene/create/async/")


def rebase(url: str, base_url: str) -> str:
    """A link of ours (tmp result, job) on ``base_url``: results are made by workers anywhere, but
    their links must point at the API the client talks to, never at a worker's own address."""
    parts = urlsplit(url)
    if not parts.path.startswith(PUBLIC_PATHS):
        return url
    return f"{base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def rebase_result(result: dict[str, Any] | None, base_url: str) -> dict[str, Any] | None:
    if not result or not isinstance(result.get("output"), list):
        return result
    output = [
        {**item, "tmp_url": rebase(item["tmp_url"], base_url)} if isinstance(item, dict) and item.get("tmp_url")
        else item
        for item in result["output"]
    ]
    return {**result, "output": output}


def rebase_envelope(payload: str, base_url: str) -> str:
    """A webhook body (``{"data": job}``) with its links on ``base_url``, at the moment it is sent."""
    envelope_ = json.loads(payload)
    data = envelope_.get("data") if isinstance(envelope_, dict) else None
    if not isinstance(data, dict):
        return payload
    if isinstance(data.get("result_url"), str):
        data["result_url"] = rebase(data["result_url"], base_url)
    data["result"] = rebase_result(data.get("result"), base_url)
    return json.dumps(envelope_, separators=(",", ":"))


def job_out(job: JobRecord, base_url: str) -> JobOut:
    return JobOut(
        id=job.id,
        status=job.status,
        result_url=f"{base_url}/v1/scene/create/async/{job.id}",
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        progress=JobProgress(stage=job.progress_stage, fraction=job.progress_fraction),
        request=job.request,
        result=rebase_result(job.result, base_url),
        error=job.error,
    )


def envelope(job: JobOut) -> str:
    """The JSON a webhook posts: the same envelope ``GET`` answers with."""
    return json.dumps({"data": job.model_dump(mode="json")}, separators=(",", ":"))


def not_found() -> PhotostageError:
    return PhotostageError(NOT_FOUND, message="No job with that id.")


class JobService:
    def __init__(
        self,
        settings: Settings,
        options: JobOptions,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        credits: Credits,
        pipeline: ScenePipeline,
        celery_app: Celery | None = None,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.base_url = settings.server.base_url()
        self.keys = keys
        self.credits = credits
        self.sessions = sessions
        self.pipeline = pipeline
        self.policy = SourcePolicy.from_settings(settings.sources, settings.limits.max_input_bytes)
        self.store = JobStore(sessions)
        self.store.final_hooks.append(self._on_final)
        self.idempotency = idempotency or IdempotencyStore(
            sessions, options.idempotency_ttl_s, claim_s=options.sync_claim_s
        )
        self.secrets = WebhookSecrets(sessions)
        self.sender = WebhookSender(
            sessions, self.secrets, GuardedPoster(self.policy, options.webhook_timeout_s), options
        )
        self.sender.render = lambda payload: rebase_envelope(payload, self.base_url)
        # A worker without server.public_url leaves webhooks to the API processes (which know
        # the address clients reach): its own address must never reach a client.
        self.sends_webhooks = True
        self.executor = JobExecutor(self.store, pipeline, options, on_final=self.sender.nudge)
        self.dispatcher = self._dispatcher(celery_app)
        self.executor.on_handed_back = self.dispatch
        if options.runner == "celery":  # the local queue dies with the process; its next start queues ACCEPTED jobs
            self.executor.on_refused_while_stopping = self.dispatch
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def _dispatcher(self, celery_app: Celery | None) -> Dispatcher:
        if self.options.runner == "celery":
            from photostage.jobs.celery_runner import CeleryDispatcher, make_celery_app

            return CeleryDispatcher(
                celery_app or make_celery_app(self.options), self.options.queue,
                redis_url=self.options.redis_url, key_prefix=self.options.redis_key_prefix,
            )
        return LocalDispatcher(self.executor.execute, self.options.local_workers)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the runner's threads, queue again what was accepted before a restart, then keep
        reaping expired leases and sending webhooks until ``stop``."""
        if self._reaper is not None:
            return
        self._stop.clear()
        self.executor.stopping.clear()
        self.dispatcher.start()
        broker_epoch = getattr(self.dispatcher, "broker_epoch", None)
        if broker_epoch is not None:
            broker_epoch()  # mark the broker before the first message, so none looks lost later
        if self.options.runner == "local":
            for job_id in self.store.accepted():
                self.dispatcher.submit(job_id)
        if self.sends_webhooks:
            self.sender.start()
        self.idempotency.start()
        self._reaper = threading.Thread(target=self._reap_loop, name="photostage-job-reaper", daemon=True)
        self._reaper.start()

    def stop(self, grace_s: float | None = None) -> None:
        """Stop the loops; jobs running in this process get ``grace_s`` (default
        ``shutdown_grace_s``) to finish, then are handed back to the queue for another worker."""
        self.drain(self.options.shutdown_grace_s if grace_s is None else grace_s)
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=10)
            self._reaper = None
        self.dispatcher.stop()
        self.sender.stop()
        self.idempotency.stop()
        close = getattr(self.pipeline, "close", None)
        if close is not None:
            close()

    def drain(self, grace_s: float) -> list[str]:
        """Let the jobs running here finish for up to ``grace_s``; hand back (and dispatch again)
        those that did not. Returns the ids handed back."""
        self.executor.stopping.set()
        if not self.executor.running() or self.executor.wait_idle(grace_s):
            return []
        handed = self.executor.hand_back()
        for job_id in handed:
            self.dispatch(job_id)
        self.executor.wait_idle(5.0)  # they stop at their next step; the lease is released already
        return handed

    def _reap_loop(self) -> None:
        interval = max(0.2, min(self.options.lease_s / 2, 10.0))
        while not self._stop.wait(interval):
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must outlive a database hiccup
                log.exception("job reaper pass failed")

    def reap(self) -> int:
        """One recovery pass; returns how many jobs were sent to a worker again."""
        for job_id in self.store.exhausted(self.options.max_attempts):
            self.executor.give_up(job_id)
        again = self.store.release_expired()
        broker_epoch = getattr(self.dispatcher, "broker_epoch", None)
        epoch = broker_epoch() if broker_epoch is not None else None
        if epoch is not None:  # messages sent before the broker's data began are lost: send again
            lost = self.store.dispatched_before(epoch)
            if lost:
                log.warning("the broker lost %d queued job(s) (restarted without its data); sending them again",
                            len(lost))
            again += lost
        again += self.store.undispatched(self.options.undispatched_grace_s)
        again += self.store.stale_dispatched(self.options.redispatch_after_s)
        for job_id in again:
            self.dispatch(job_id)
        self.idempotency.sweep()
        return len(again)

    def dispatch(self, job_id: str) -> None:
        try:
            self.dispatcher.submit(job_id)
        except Exception:  # noqa: BLE001 - the job is safe in the store; the reaper sends it later
            log.exception("could not queue job %s; it stays ACCEPTED and is queued again later", job_id)
            self.store.clear_dispatched(job_id)
            return
        self.store.mark_dispatched(job_id)

    # --- acceptance ---------------------------------------------------------------------------

    def submit(
        self,
        principal: Principal,
        body: SceneCreateAPIIn,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Submission:
        """Accept a job: replay an earlier one with the same Idempotency-Key and body (409 for
        another body), refuse past ``max_queue`` (503), reserve credits (402), then queue it."""
        request = body.model_dump(mode="json", exclude_unset=True)
        if webhook_url is not None:
            check_webhook_url(webhook_url, self.policy)
            self.secrets.require(principal.account_id)
        key = check_key(idempotency_key) if idempotency_key is not None else None
        digest = fingerprint({"request": body.model_dump(mode="json"), "webhook_url": webhook_url})
        if key is not None:
            earlier = self._replay(principal.account_id, key, digest)
            if earlier is not None:
                return Submission(earlier, replayed=True)
        self._refuse_when_full()
        images = body.output_options.number_of_images
        self.credits.reserve(principal.account_id, images)
        target = webhook_url or self.keys.webhook_url(principal.key_id)
        seed = body.scene.seed if body.scene.seed is not None else secrets.randbits(32)
        new = NewJob(
            id=uuid.uuid4().hex,
            account_id=principal.account_id,
            key_id=principal.key_id,
            request=request,
            seed=seed,
            images=images,
            webhook_url=target,
        )
        try:
            with self.sessions.begin() as session:
                job = self.store.insert(session, new)
                if key is not None:
                    self.idempotency.add(session, principal.account_id, ASYNC_SCOPE, key, digest, new.id)
                record = to_record(job)
        except IntegrityError:
            self.credits.refund(principal.account_id, images)
            earlier = self._replay(principal.account_id, key, digest) if key is not None else None
            if earlier is None:
                raise
            return Submission(earlier, replayed=True)
        except BaseException:
            self.credits.refund(principal.account_id, images)
            raise
        self.dispatch(new.id)
        return Submission(job_out(record, self.base_url), replayed=False)

    def _replay(self, account_id: int, key: str, digest: str) -> JobOut | None:
        with self.sessions.begin() as session:
            record = self.idempotency.find(session, account_id, ASYNC_SCOPE, key, digest)
            job_id = record.job_id if record is not None else None
        if job_id is None:
            return None
        job = self.store.get(job_id, account_id)
        return job_out(job, self.base_url) if job is not None else None

    def _refuse_when_full(self) -> None:
        with self.sessions() as session:
            active = self.store.active_count(session)
        if active >= self.options.max_queue:
            raise PhotostageError(
                OVERLOADED,
                message=f"The job queue is full ({self.options.max_queue} jobs). Retry later.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )

    def _on_final(self, session: Session, job: Job) -> None:
        """In the transaction that ends the job: give back the credits of images never made, and
        log the webhook delivery (sent later by the sender)."""
        if job.status in (ERROR, CANCELLED):
            session.execute(
                update(Account)
                .where(Account.id == job.account_id, Account.credits.is_not(None))
                .values(credits=Account.credits + job.images)
                .execution_options(synchronize_session=False)
            )
        if job.webhook_url:
            payload = envelope(job_out(to_record(job), self.base_url))
            add_delivery(
                session, job.id, job.account_id, f"job.{job.status.lower()}", job.webhook_url, payload
            )

    # --- reading and cancelling ---------------------------------------------------------------

    def get(self, account_id: int, job_id: str) -> JobOut:
        job = self.store.get(job_id, account_id)
        if job is None:
            raise not_found()
        return job_out(job, self.base_url)

    def page(
        self,
        account_id: int,
        statuses: Sequence[str],
        limit: int,
        offset: int,
        updated_since: datetime | None = None,
    ) -> JobPage:
        unknown = [status for status in statuses if status not in JOB_STATUSES]
        if unknown:
            raise validation_error(
                "status", f"unknown status {unknown[0]!r}; one of {', '.join(JOB_STATUSES)}"
            )
        page = self.store.page(account_id, statuses, limit, offset, updated_since)
        return JobPage(
            [job_out(job, self.base_url) for job in page.jobs],
            PageMeta(total=page.total, limit=limit, offset=offset),
        )

    def cancel(self, account_id: int, job_id: str) -> JobOut:
        """Cancel an ACCEPTED or PROCESSING job; a job that already ended is returned as it is."""
        cancelled = self.store.cancel(job_id, account_id)
        if cancelled is not None:
            self.sender.nudge()
            return job_out(cancelled, self.base_url)
        return self.get(account_id, job_id)

    def deliveries(self, account_id: int, job_id: str) -> list[WebhookDeliveryOut]:
        self.get(account_id, job_id)
        return self.sender.deliveries(job_id)

    # --- webhook settings ---------------------------------------------------------------------

    def webhook_config(self, principal: Principal) -> WebhookConfigOut:
        return WebhookConfigOut(
            url=self.keys.webhook_url(principal.key_id),
            secret_configured=self.secrets.exists(principal.account_id),
        )

    def set_webhook(self, principal: Principal, url: str | None) -> WebhookConfigOut:
        """Set (or clear) the calling key's webhook URL; the account's signing secret is made
        with the first URL and shown in this answer only."""
        if url is not None:
            check_webhook_url(url, self.policy, field="url")
        self.keys.set_webhook_url(str(principal.key_id), url)
        secret = self.secrets.create_if_missing(principal.account_id) if url is not None else None
        return WebhookConfigOut(
            url=url, secret_configured=self.secrets.exists(principal.account_id), secret=secret
        )

    def rotate_secret(self, account_id: int) -> WebhookConfigOut:
        secret = self.secrets.rotate(account_id)
        return WebhookConfigOut(url=None, secret_configured=True, secret=secret)


class JobParts(Protocol):
    """What the job service is built from (``photostage.services.Services`` has all of it)."""

    settings: Settings
    sessions: sessionmaker[Session]
    keys: KeyStore
    credits: Credits
    job_scenes: ScenePipeline
    idempotency: IdempotencyStore


def build_job_service(
    services: JobParts, options: JobOptions | None = None, celery_app: Celery | None = None
) -> JobService:
    """The job service over already built parts (``options`` default to ``settings.jobs``)."""
    settings = services.settings
    return JobService(
        settings=settings,
        options=options or JobOptions.from_settings(settings.jobs, settings.limits.request_deadline_s),
        sessions=services.sessions,
        keys=services.keys,
        credits=services.credits,
        pipeline=services.job_scenes,
        celery_app=celery_app,
        idempotency=services.idempotency,
    )
