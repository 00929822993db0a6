"""Cluster-wide job metrics, read from the database at scrape time: every API process reports the
same numbers, whichever process or host did the work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from photostage.db import aware, utcnow
from photostage.jobs.models import ACCEPTED, JOB_STATUSES, PROCESSING, Job
from photostage.webhooks.models import WebhookDelivery

log = logging.getLogger("photostage.jobs")


class JobsCollector:
    """``photostage_jobs{status}``, ``photostage_queue_depth``, ``photostage_job_age_seconds{status}``
    (the oldest unfinished job), ``photostage_webhook_deliveries{status}``; and
    ``photostage_jobs_collector_up`` (0 when the database did not answer this scrape)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # no fixed description: collected only at scrape time

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("photostage_jobs_collector_up", "1 when the job metrics were read from the database.")
        try:
            families = self._read()
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database does not
            log.warning("job metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        now = self.clock()
        with self.sessions() as session:
            by_status = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            oldest = dict(
                session.execute(
                    select(Job.status, func.min(Job.created_at))
                    .where(Job.status.in_((ACCEPTED, PROCESSING)))
                    .group_by(Job.status)
                ).all()
            )
            deliveries = dict(
                session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all()
            )
        jobs = GaugeMetricFamily("photostage_jobs", "Jobs in the database by status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], by_status.get(status, 0))
        depth = GaugeMetricFamily("photostage_queue_depth", "Jobs accepted and waiting for a worker.")
        depth.add_metric([], by_status.get(ACCEPTED, 0))
        age = GaugeMetricFamily(
            "photostage_job_age_seconds", "Age of the oldest unfinished job, by status.", labels=["status"]
        )
        for status in (ACCEPTED, PROCESSING):
            created = aware(oldest.get(status))
            age.add_metric([status], max(0.0, (now - created).total_seconds()) if created else 0.0)
        webhooks = GaugeMetricFamily(
            "photostage_webhook_deliveries", "Webhook deliveries in the log, by status (PENDING, DELIVERED, "
            "FAILED: given up).", labels=["status"],
        )
        for status in ("PENDING", "DELIVERED", "FAILED"):
            webhooks.add_metric([status], deliveries.get(status, 0))
        return [jobs, depth, age, webhooks]
