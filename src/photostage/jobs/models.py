"""The table of async jobs.

The job row is the source of truth for every runner: a queue message (Celery) or a queue entry
(local threads) only says "look at job X". Who may work on a job is decided by a lease in the
row (``lease_owner``/``lease_until``), taken and renewed with conditional UPDATEs, so a message
delivered twice, or a worker that died mid-job, never makes a job finish twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from photostage.db import Base, utcnow

ACCEPTED = "ACCEPTED"
PROCESSING = "PROCESSING"
DONE = "DONE"
ERROR = "ERROR"
CANCELLED = "CANCELLED"
JOB_STATUSES = (ACCEPTED, PROCESSING, DONE, ERROR, CANCELLED)
ACTIVE_STATUSES = (ACCEPTED, PROCESSING)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_account_created", "account_id", "created_at"),
        Index("ix_jobs_status_lease", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ACCEPTED)
    request_json: Mapped[str] = mapped_column(Text)
    # The seed the job renders with when the request gave none, fixed at acceptance so a rerun
    # after a crash produces the very same pixels under the very same names.
    seed: Mapped[int] = mapped_column(BigInteger)
    images: Mapped[int] = mapped_column(Integer)
    webhook_url: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    progress_stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    progress_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
