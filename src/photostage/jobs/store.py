"""The job store: every change of a job is one conditional UPDATE, so it is safe under
at-least-once delivery and any number of API processes and workers (SQLite or PostgreSQL).

- ``claim`` takes a job that is ACCEPTED, or PROCESSING with a lease that ran out; a DONE,
  ERROR or CANCELLED job is never taken again.
- ``renew``/``report`` and ``finish`` only touch a job whose lease the caller still holds, so a
  worker that lost its lease (it stalled, or the job was cancelled) cannot overwrite the outcome.
- A job's move to a final status runs the ``final_hooks`` in the same transaction (credits
  refund, webhook deliveries): they happen exactly once per job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from photostage.db import aware, rows_changed, utcnow
from photostage.jobs.models import (
    ACCEPTED,
    ACTIVE_STATUSES,
    CANCELLED,
    DONE,
    ERROR,
    PROCESSING,
    Job,
)

FinalHook = Callable[[Session, Job], None]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class NewJob:
    id: str
    account_id: int
    key_id: int | None
    request: dict[str, Any]
    seed: int
    images: int
    webhook_url: str | None


@dataclass(frozen=True)
class JobRecord:
    """A job as read from the store, detached from any session."""

    id: str
    account_id: int
    status: str
    request: dict[str, Any]
    seed: int
    images: int
    webhook_url: str | None
    progress_stage: str | None
    progress_fraction: float
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    lease_owner: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def to_record(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        account_id=job.account_id,
        status=job.status,
        request=json.loads(job.request_json),
        seed=job.seed,
        images=job.images,
        webhook_url=job.webhook_url,
        progress_stage=job.progress_stage,
        progress_fraction=job.progress_fraction,
        result=json.loads(job.result_json) if job.result_json else None,
        error=json.loads(job.error_json) if job.error_json else None,
        attempts=job.attempts,
        lease_owner=job.lease_owner,
        created_at=aware(job.created_at),
        updated_at=aware(job.updated_at),
        started_at=aware(job.started_at),
        finished_at=aware(job.finished_at),
    )


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a job: ``job`` is set when this caller now holds it."""

    job: JobRecord | None
    reason: str  # claimed | final | leased | missing | exhausted


@dataclass(frozen=True)
class Page:
    jobs: list[JobRecord]
    total: int


class JobStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock
        self.final_hooks: list[FinalHook] = []

    # --- acceptance ---------------------------------------------------------------------------

    def active_count(self, session: Session) -> int:
        return (
            session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE_STATUSES))) or 0
        )

    def insert(self, session: Session, new: NewJob) -> Job:
        now = self.clock()
        job = Job(
            id=new.id,
            account_id=new.account_id,
            key_id=new.key_id,
            status=ACCEPTED,
            request_json=json.dumps(new.request, separators=(",", ":")),
            seed=new.seed,
            images=new.images,
            webhook_url=new.webhook_url,
            progress_fraction=0.0,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(job)
        session.flush()
        return job

    def mark_dispatched(self, job_id: str) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(dispatched_at=self.clock())
                .execution_options(synchronize_session=False)
            )

    # --- reading ------------------------------------------------------------------------------

    def get(self, job_id: str, account_id: int | None = None) -> JobRecord | None:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or (account_id is not None and job.account_id != account_id):
                return None
            return to_record(job)

    def page(
        self,
        account_id: int,
        statuses: Sequence[str],
        limit: int,
        offset: int,
        updated_since: datetime | None = None,
    ) -> Page:
        """An account's jobs, newest first; with ``updated_since``, oldest change first (for
        clients that poll for what changed)."""
        where = [Job.account_id == account_id]
        if statuses:
            where.append(Job.status.in_(list(statuses)))
        if updated_since is not None:
            where.append(Job.updated_at >= updated_since)
        order = (
            (Job.updated_at.asc(), Job.id) if updated_since is not None else (Job.created_at.desc(), Job.id)
        )
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
            rows = session.scalars(
                select(Job).where(*where).order_by(*order).limit(limit).offset(offset)
            ).all()
            return Page([to_record(job) for job in rows], total)

    # --- working ------------------------------------------------------------------------------

    def claim(self, job_id: str, owner: str, lease_s: float, max_attempts: int) -> Claim:
        now = self.clock()
        takeable = or_(Job.status == ACCEPTED, (Job.status == PROCESSING) & (Job.lease_until < now))
        with self.sessions.begin() as session:
            taken = rows_changed(session.execute(
                update(Job)
                .where(Job.id == job_id, takeable, Job.attempts < max_attempts)
                .values(
                    status=PROCESSING,
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_s),
                    attempts=Job.attempts + 1,
                    started_at=func.coalesce(Job.started_at, now),
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ))
            job = session.get(Job, job_id)
            if job is None:
                return Claim(None, "missing")
            if taken:
                return Claim(to_record(job), "claimed")
            if job.status in (DONE, ERROR, CANCELLED):
                return Claim(None, "final")
            lease_until = aware(job.lease_until)
            if job.status == PROCESSING and lease_until is not None and lease_until >= now:
                return Claim(None, "leased")
        return Claim(None, "exhausted")

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend the lease; False when the caller no longer holds the job."""
        return self._held_update(job_id, owner, {"lease_until": self.clock() + timedelta(seconds=lease_s)})

    def report(self, job_id: str, owner: str, stage: str, fraction: float, lease_s: float) -> bool:
        now = self.clock()
        values = {
            "progress_stage": stage[:32],
            "progress_fraction": max(0.0, min(1.0, fraction)),
            "lease_until": now + timedelta(seconds=lease_s),
            "updated_at": now,
        }
        return self._held_update(job_id, owner, values)

    def _held_update(self, job_id: str, owner: str, values: dict[str, Any]) -> bool:
        with self.sessions.begin() as session:
            return bool(
                rows_changed(session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == PROCESSING, Job.lease_owner == owner)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                ))
            )

    def hand_back(self, job_id: str, owner: str) -> bool:
        """The holder gives a PROCESSING job back (it is stopping): ACCEPTED again, its attempt
        not counted, to be dispatched at once rather than after its lease runs out."""
        now = self.clock()
        with self.sessions.begin() as session:
            return bool(
                rows_changed(session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == PROCESSING, Job.lease_owner == owner)
                    .values(
                        status=ACCEPTED,
                        lease_owner=None,
                        lease_until=None,
                        attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
                        updated_at=now,
                        dispatched_at=now,
                    )
                    .execution_options(synchronize_session=False)
                ))
            )

    def finish(
        self,
        job_id: str,
        owner: str | None,
        status: str,
        result: dict[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> JobRecord | None:
        """Move a job to DONE or ERROR (as its lease holder) and run the final hooks; None when
        the caller no longer holds it. ``owner=None`` ends an ACCEPTED job nobody holds (a job
        given up after too many attempts)."""
        now = self.clock()
        held = (
            (Job.status == PROCESSING) & (Job.lease_owner == owner)
            if owner is not None
            else or_(Job.status == ACCEPTED, (Job.status == PROCESSING) & (Job.lease_until < now))
        )
        values: dict[str, Any] = {
            "status": status,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
            "finished_at": now,
            "result_json": json.dumps(result, separators=(",", ":")) if result is not None else None,
            "error_json": json.dumps(error, separators=(",", ":")) if error is not None else None,
        }
        if status == DONE:
            values.update(progress_stage="done", progress_fraction=1.0)
        return self._transition(job_id, held, values)

    def cancel(self, job_id: str, account_id: int) -> JobRecord | None:
        """Cancel an ACCEPTED or PROCESSING job of this account; a running worker notices at its
        next progress report or heartbeat. None when the job is missing or already final."""
        now = self.clock()
        active = (Job.account_id == account_id) & Job.status.in_(ACTIVE_STATUSES)
        values = {
            "status": CANCELLED,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
            "finished_at": now,
        }
        return self._transition(job_id, active, values)

    def _transition(self, job_id: str, condition: Any, values: dict[str, Any]) -> JobRecord | None:
        with self.sessions.begin() as session:
            changed = rows_changed(session.execute(
                update(Job)
                .where(Job.id == job_id, condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            ))
            if not changed:
                return None
            job = session.get(Job, job_id)
            assert job is not None
            for hook in self.final_hooks:
                hook(session, job)
            return to_record(job)

    # --- recovery -----------------------------------------------------------------------------

    def release_expired(self, limit: int = 500) -> list[str]:
        """PROCESSING jobs whose lease ran out go back to ACCEPTED, each by exactly one caller;
        returns the ids this caller released (to dispatch again)."""
        now = self.clock()
        with self.sessions() as session:
            candidates = session.scalars(
                select(Job.id).where(Job.status == PROCESSING, Job.lease_until < now).limit(limit)
            ).all()
        released: list[str] = []
        for job_id in candidates:
            with self.sessions.begin() as session:
                changed = rows_changed(session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == PROCESSING, Job.lease_until < now)
                    .values(
                        status=ACCEPTED,
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                        dispatched_at=None,
                    )
                    .execution_options(synchronize_session=False)
                ))
            if changed:
                released.append(job_id)
        return released

    def undispatched(self, older_than_s: float, limit: int = 500) -> list[str]:
        """ACCEPTED jobs whose queue message was never sent (the sender died in between), each
        taken by exactly one caller (marked as sent now); returns the ids to send."""
        cutoff = self.clock() - timedelta(seconds=older_than_s)
        never_sent = (Job.status == ACCEPTED) & Job.dispatched_at.is_(None) & (Job.updated_at < cutoff)
        return self._take_for_dispatch(never_sent, limit)

    def stale_dispatched(self, older_than_s: float, limit: int = 500) -> list[str]:
        """ACCEPTED jobs whose message was sent long ago and never taken (it was lost), each
        taken by exactly one caller; returns the ids to send again."""
        cutoff = self.clock() - timedelta(seconds=older_than_s)
        return self._take_for_dispatch((Job.status == ACCEPTED) & (Job.dispatched_at < cutoff), limit)

    def dispatched_before(self, moment: datetime, limit: int = 5000) -> list[str]:
        """ACCEPTED jobs whose message was sent before ``moment`` (the broker lost it since), each
        taken by exactly one caller; returns the ids to send again."""
        return self._take_for_dispatch((Job.status == ACCEPTED) & (Job.dispatched_at < moment), limit)

    def _take_for_dispatch(self, condition: Any, limit: int) -> list[str]:
        with self.sessions() as session:
            candidates = session.scalars(
                select(Job.id).where(condition).order_by(Job.created_at).limit(limit)
            ).all()
        taken: list[str] = []
        for job_id in candidates:
            with self.sessions.begin() as session:
                changed = rows_changed(session.execute(
                    update(Job)
                    .where(Job.id == job_id, condition)
                    .values(dispatched_at=self.clock())
                    .execution_options(synchronize_session=False)
                ))
            if changed:
                taken.append(job_id)
        return taken

    def clear_dispatched(self, job_id: str) -> None:
        """The message could not be sent: let the next reaper pass send it."""
        with self.sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == ACCEPTED)
                .values(dispatched_at=None)
                .execution_options(synchronize_session=False)
            )

    def accepted(self, limit: int = 100_000) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Job.id).where(Job.status == ACCEPTED).order_by(Job.created_at).limit(limit)
                ).all()
            )

    def exhausted(self, max_attempts: int, limit: int = 500) -> list[str]:
        """Jobs that cannot be claimed any more (every attempt killed its worker)."""
        now = self.clock()
        takeable = or_(Job.status == ACCEPTED, (Job.status == PROCESSING) & (Job.lease_until < now))
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Job.id).where(takeable, Job.attempts >= max_attempts).limit(limit)
                ).all()
            )
