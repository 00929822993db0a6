"""Wiring: build every service of photostage from one Settings value (no import-time singletons).

The API, the CLI and the job workers all start from :func:`build_services`, which builds each part
once, from explicit parts, in dependency order: the database, source reading, storages, temporary
results, engines, the runner, then :class:`SceneService` (the one way a scene is created, sync or
as a job) and the :class:`JobService` that executes jobs through it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from photostage.accounts import Credits, KeyStore
from photostage.cluster import MisconfiguredError, check_storage_key, tmp_signing_key
from photostage.config import Settings
from photostage.cutout.base import CutoutEngine
from photostage.cutout.registry import build_cutout_engine
from photostage.db import make_sessionmaker
from photostage.idempotency import IdempotencyStore
from photostage.jobs.execute import JobResultsTmp
from photostage.jobs.metrics import JobsCollector
from photostage.jobs.options import JobOptions
from photostage.jobs.service import JobService
from photostage.observability.metrics import Metrics
from photostage.pipeline.guarded import guard_cutout_engine, guard_scene_engines
from photostage.pipeline.runner import SceneRunner
from photostage.pipeline.service import JobScenes, SceneService
from photostage.pipeline.steps import stage_timings
from photostage.readiness import Check, Readiness, database_check, redis_check, writable_directories_check
from photostage.scenes.registry import SceneEngines, build_scene_engines
from photostage.schema import open_database
from photostage.sources.reader import SourcePolicy, SourceReader
from photostage.storage.base import operator_gate
from photostage.storage.cloud import make_s3_filesystem
from photostage.storage.service import StorageService
from photostage.storage.tmp import TmpBlobs, TmpStore, tmp_store_from_settings
from photostage.storage.tmp_backends import BucketBlobs, DatabaseBlobs

if TYPE_CHECKING:
    from celery import Celery


@dataclass
class Services:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    keys: KeyStore
    credits: Credits
    storages: StorageService
    tmp: TmpStore
    reader: SourceReader
    engines: SceneEngines
    cutout_engine: CutoutEngine
    runner: SceneRunner
    idempotency: IdempotencyStore
    scenes: SceneService
    job_scenes: JobScenes
    jobs: JobService
    metrics: Metrics
    readiness: Readiness = field(init=False)

    @property
    def capacity(self) -> threading.BoundedSemaphore:
        """Synchronous renders in flight in this process (see :class:`SceneService`)."""
        return self.scenes.capacity

    def close(self) -> None:
        self.jobs.stop()
        self.runner.close()
        self.db.dispose()


def sync_capacity(settings: Settings) -> int:
    """Synchronous scene requests served at once: four per render worker (one renders, the rest
    decode, fetch and encode); the next one is refused with 503 rather than queued."""
    return settings.limits.workers * 4


def build_services(
    settings: Settings, job_options: JobOptions | None = None, celery_app: Celery | None = None
) -> Services:
    """Every service, once. ``job_options`` default to ``settings.jobs``; a Celery worker passes
    its own (queue, lease) and its Celery app."""
    db = open_database(settings)
    sessions = make_sessionmaker(db)
    try:
        check_storage_key(
            sessions, settings.secret("storage-key", settings.storage.encryption_key),
            configured=settings.storage.encryption_key is not None,
        )
    except MisconfiguredError:
        db.dispose()
        raise
    reader = SourceReader(SourcePolicy.from_settings(settings.sources, settings.limits.max_input_bytes))
    storages = StorageService(sessions, settings, fetch=reader.read, url_guard=reader.check_endpoint,
                              gate=reader.gate)
    tmp = shared_tmp_store(settings, sessions)
    engines = guard_scene_engines(build_scene_engines(settings))  # a broken engine is never a 5xx
    cutout_engine = guard_cutout_engine(build_cutout_engine(settings.cutout))
    runner = SceneRunner(
        settings=settings, reader=reader, storages=storages, tmp=tmp, engines=engines,
        cutout_engine=cutout_engine,
    )
    keys, credits, metrics = KeyStore(sessions), Credits(sessions), Metrics()
    options = job_options or JobOptions.from_settings(settings.jobs, settings.limits.request_deadline_s)
    idempotency = IdempotencyStore(sessions, options.idempotency_ttl_s, claim_s=options.sync_claim_s)
    scenes = SceneService(
        runner, engines, credits, idempotency, threading.BoundedSemaphore(sync_capacity(settings)),
        settings.limits.request_deadline_s, observe=lambda profiling: metrics.observe_stages(stage_timings(profiling)),
    )
    job_scenes = JobScenes(scenes, JobResultsTmp(tmp))
    jobs = JobService(
        settings, options, sessions, keys, credits, job_scenes, celery_app=celery_app, idempotency=idempotency
    )
    services = Services(
        settings=settings, db=db, sessions=sessions, keys=keys, credits=credits, storages=storages, tmp=tmp,
        reader=reader, engines=engines, cutout_engine=cutout_engine, runner=runner, idempotency=idempotency,
        scenes=scenes, job_scenes=job_scenes, jobs=jobs, metrics=metrics,
    )
    observe(services)
    services.readiness = Readiness(readiness_checks(services))
    return services


def shared_tmp_store(settings: Settings, sessions: sessionmaker[Session]) -> TmpStore:
    """The temporary results store every process of this database agrees on: the signing key from
    the settings or the database (a key this host kept in a file before is adopted, so its links
    stay valid), the results where ``tmp.store`` says."""
    signing_key = settings.tmp.signing_key
    if not signing_key:
        earlier = settings.data_dir / "secrets" / "tmp-signing-key"
        signing_key = tmp_signing_key(sessions, earlier.read_text().strip() if earlier.is_file() else None)
    backend = settings.tmp.backend(settings.sqlalchemy_url)
    blobs: TmpBlobs | None = None
    if backend == "database":
        blobs = DatabaseBlobs(sessions)
    elif backend == "s3":
        s3 = settings.tmp.s3
        assert s3 is not None  # the settings refuse tmp.store=s3 without tmp.s3
        filesystem = make_s3_filesystem(s3.key, s3.secret, s3.region, s3.endpoint_url, operator_gate(s3.endpoint_url))
        blobs = BucketBlobs(filesystem, f"{s3.bucket}/{s3.prefix.strip('/')}")
    return tmp_store_from_settings(settings, signing_key, blobs)


def observe(services: Services) -> None:
    """Connect the metrics: the job tables' collector, webhook attempts and job outcomes."""
    metrics = services.metrics
    metrics.add_collector(JobsCollector(services.sessions))
    services.jobs.sender.on_attempt = lambda outcome: metrics.webhook_attempts.labels(outcome).inc()

    def job_outcome(
        outcome: str, profiling: dict[str, float] | None, error: dict[str, object] | None, status: int | None
    ) -> None:
        metrics.job_runs.labels(outcome).inc()
        if profiling:
            metrics.observe_stages(stage_timings(profiling))
        if error is not None and status is not None:
            metrics.observe_error(str(error.get("error_code")), str(error.get("error_type")), status)

    services.jobs.executor.on_outcome = job_outcome


def readiness_checks(services: Services) -> dict[str, Check]:
    """What this process needs to answer: the database, the broker (runner=celery), the storage."""
    settings = services.settings
    checks = {"database": database_check(services.db)}
    if services.jobs.options.runner == "celery":
        checks["broker"] = redis_check(services.jobs.options.redis_url)
    local_roots = [connector.root for connector in settings.storage.connectors.values() if connector.type == "local"]
    directories = writable_directories_check(local_roots)

    def storage() -> None:
        services.tmp.check()
        directories()

    checks["storage"] = storage
    return checks
