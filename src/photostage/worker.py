"""A ``photostage worker`` process: the services of one Celery worker, built once per process
(after the fork under prefork), running the jobs its queue hands it.

The queue plumbing (the Celery app, the task, the dispatcher) is in
:mod:`photostage.jobs.celery_runner`; this module sits above it, beside the API, because it
builds the whole service graph.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from photostage.config import Settings
from photostage.jobs.celery_runner import make_celery_app, register_job_task
from photostage.jobs.options import JobOptions
from photostage.services import Services, build_services

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("photostage.jobs")

Plugin = Callable[[Services], None]


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
        services = build_services(self.settings, job_options=self.options, celery_app=self.app)
        for plugin in self.plugins:
            plugin(services)
        services.jobs.sends_webhooks = self.settings.server.public_url is not None
        services.jobs.start()
        if self.settings.engines.diffusion_preload:
            services.engines.start_loading()
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

    def shutting_down(self, **_signal: object) -> None:
        """SIGTERM (warm shutdown): Celery takes no new task and waits for the running ones; this
        bounds the wait. After ``shutdown_grace_s`` the jobs still running are handed back to the
        queue (ACCEPTED, dispatched again for another worker) and stop at their next step."""
        services = self._services
        if services is None:
            return
        grace_s = self.options.shutdown_grace_s
        log.info("worker %s stopping: running jobs get %.0f s, then go back to the queue", os.getpid(), grace_s)
        threading.Thread(
            target=services.jobs.drain, args=(grace_s,), name="photostage-worker-drain", daemon=True
        ).start()

    def stop(self, **_signal: object) -> None:
        services, self._services = self._services, None
        if services is not None:
            services.jobs.stop()
            services.close()


def preflight(settings: Settings) -> None:
    """Refuse to start a worker whose settings would make results other hosts cannot use, with a
    message naming the setting: the database's schema must be current (``SchemaError``), the storage
    key must be the fleet's, and with a shared database temporary results must not stay on this
    host's disk."""
    from photostage.cluster import MisconfiguredError, check_storage_key
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database

    engine = open_database(settings)
    try:
        check_storage_key(
            make_sessionmaker(engine), settings.secret("storage-key", settings.storage.encryption_key),
            configured=settings.storage.encryption_key is not None,
        )
    finally:
        engine.dispose()
    shared = not settings.sqlalchemy_url.startswith("sqlite")
    if shared and settings.tmp.backend(settings.sqlalchemy_url) == "local":
        raise MisconfiguredError(
            "PHOTOSTAGE_TMP__STORE is local, but this worker shares its database with other hosts: the "
            "results it keeps on its own disk could not be served by the API. Set PHOTOSTAGE_TMP__STORE to "
            "database (or s3 with PHOTOSTAGE_TMP__S3__BUCKET), or leave it at auto."
        )


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

    from photostage.observability.logs import configure_logging

    configure_logging(settings.log.format, loglevel)
    options = replace(options, runner="celery")
    if settings.engines.diffusion_path is not None and pool == "prefork" and concurrency > 1:
        log.warning(
            "diffusion weights are configured and --pool prefork runs %d processes: each loads its own copy "
            "of the weights onto the GPU; run GPU workers with --pool threads (one copy, calls queue for the "
            "device) or --concurrency 1", concurrency,
        )
    app = make_celery_app(options)
    runtime = WorkerRuntime(settings=settings, options=options, app=app, plugins=plugins)
    register_job_task(app, runtime.execute)
    signals.worker_shutting_down.connect(runtime.shutting_down, weak=False)
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
