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

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from photostage.config import Settings
from photostage.jobs.options import JobOptions

if TYPE_CHECKING:
    from celery import Celery

    from photostage.services import Services

log = logging.getLogger("photostage.jobs")

TASK_NAME = "photostage.run_job"
Plugin = Callable[["Services"], None]


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


@dataclass
class WorkerRuntime:
    """The services of one worker process, built on first use (after the fork under prefork:
    database connections and threads do not survive a fork)."""

    settings: Settings
    options: JobOptions
    app: Celery
    plugins: Sequence[Plugin] = ()
    _services: Services | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def services(self) -> Services:
        with self._lock:
            if self._services is None:
                self._services = self._build()
            return self._services

    def _build(self) -> Services:
        from photostage.jobs.service import build_job_service
        from photostage.services import build_services

        services = build_services(self.settings)
        for plugin in self.plugins:
            plugin(services)
        services.jobs.stop()
        services.jobs = build_job_service(services, self.options, celery_app=self.app)
        services.jobs.start()
        log.info(
            "worker %s ready (queue %s, lease %.0f s)", os.getpid(), self.options.queue, self.options.lease_s
        )
        return services

    def execute(self, job_id: str) -> str:
        return self.services().jobs.executor.execute(job_id)

    def after_fork(self, **_signal: object) -> None:
        self._services = None
        self._lock = threading.Lock()

    def warm(self, **_signal: object) -> None:
        self.services()

    def stop(self, **_signal: object) -> None:
        services, self._services = self._services, None
        if services is not None:
            services.jobs.stop()
            services.close()


def load_plugin(spec: str) -> Plugin:
    """``module:function`` → the function; it gets the worker's Services once they are built
    (e.g. to register a custom scene engine under ``services.engines.engines``)."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a plugin is module:function, not {spec!r}")
    plugin = getattr(importlib.import_module(module_name), attribute)
    if not callable(plugin):
        raise ValueError(f"{spec} is not callable")
    return plugin


def run_worker(
    settings: Settings,
    options: JobOptions,
    pool: str,
    concurrency: int,
    plugins: Sequence[Plugin] = (),
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker on the job queue until it is stopped (blocks)."""
    from celery import signals

    options = replace(options, runner="celery")
    app = make_celery_app(options)
    runtime = WorkerRuntime(settings=settings, options=options, app=app, plugins=plugins)
    register_job_task(app, runtime.execute)
    if pool == "prefork":
        signals.worker_process_init.connect(runtime.after_fork, weak=False)
        signals.worker_process_shutdown.connect(runtime.stop, weak=False)
    else:
        signals.worker_ready.connect(runtime.warm, weak=False)
        signals.worker_shutdown.connect(runtime.stop, weak=False)
    app.worker_main(
        [
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--queues={options.queue}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname=photostage-{os.getpid()}@%h",
        ]
    )
