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

from collections.abc import Callable
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


class CeleryDispatcher:
    """Sends "run job X" messages; the job row, not the message, carries the work."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue

    def submit(self, job_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id], queue=self.queue)

    def start(self) -> None:
        """Nothing to start: workers are separate processes."""

    def stop(self, timeout_s: float = 5.0) -> None:
        self.app.close()
