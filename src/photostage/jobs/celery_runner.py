"""The ``celery`` runner: jobs go to a Redis queue and any number of ``photostage worker``
processes, on any number of machines sharing the database and the storages, run them.

Delivery is at least once: tasks are acknowledged late (after the job ran), a worker process
that dies puts its task back (``reject_on_worker_lost``), and a message held by a worker that
vanished returns after the broker's visibility timeout. None of that can make a job run twice
to completion: the worker must first take the job's lease in the database (see ``store``), and
the lease reaper re-sends a job whose worker stopped renewing its lease, usually long before
the visibility timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from photostage.jobs.options import JobOptions

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "photostage.run_job"


def make_celery_app(options: JobOptions) -> Celery:
    from celery import Celery

    app = Celery("photostage", broker=options.redis_url, set_as_current=False)
    transport: dict[str, Any] = {"visibility_timeout": options.visibility_timeout_s}
    if options.redis_key_prefix:
        transport["global_keyprefix"] = options.redis_key_prefix
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_default_queue=options.queue,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
    )
    return app


def register_job_task(app: Celery, execute: Callable[[str], str]) -> None:
    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job(job_id: str) -> str:
        return execute(job_id)


EPOCH_KEY = "broker-epoch"


class CeleryDispatcher:
    """Sends "run job X" messages; the job row, not the message, carries the work.

    ``broker_epoch`` notices a broker that lost its data (Redis restarted without persistence, or
    was flushed): a marker key holds the time it was first set; when it is missing it is set anew
    (by exactly one process: SET NX), so every message sent before the marker's time may be gone,
    and the reaper sends again each job still ACCEPTED that was dispatched before it.
    """

    def __init__(self, app: Celery, queue: str, redis_url: str | None = None, key_prefix: str = "") -> None:
        self.app = app
        self.queue = queue
        self.redis_url = redis_url
        self.epoch_key = f"{key_prefix}{EPOCH_KEY}"

    def broker_epoch(self) -> datetime | None:
        """Since when the broker holds its present data (None: it cannot be asked now)."""
        if self.redis_url is None:
            return None
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3, socket_timeout=3)
        try:
            value = client.get(self.epoch_key)
            if value is None:
                seconds, micros = client.time()  # the broker's clock: one clock for every host
                client.set(self.epoch_key, f"{seconds}.{micros:06d}:{uuid.uuid4().hex}", nx=True)
                value = client.get(self.epoch_key)
        except redis.RedisError:
            return None
        finally:
            client.close()
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        moment = float(text.split(":", 1)[0])
        return datetime.fromtimestamp(moment, UTC)

    def submit(self, job_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id], queue=self.queue)

    def start(self) -> None:
        """Nothing to start: workers are separate processes."""

    def stop(self, timeout_s: float = 5.0) -> None:
        self.app.close()
