"""Prometheus metrics (``prometheus-client``), one registry per process's services (no global
registry: tests build many apps in one process).

Process-local series are counted where things happen (HTTP requests, pipeline stages, errors,
webhook attempts); cluster-wide state (queue depth, jobs by status, job age, deliveries by status)
is read from the database at scrape time by collectors the subsystems register (``add_collector``),
so every API process reports the same, true numbers whichever worker did the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a 1 ms encode to a several-minute diffusion render.
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Refusals of the cut-out: the contract's image errors answered 422 (no object, not confident).
CUTOUT_REFUSAL = ("image", 422)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "photostage_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=self.registry,
        )
        self.request_seconds = Histogram(
            "photostage_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["route", "method"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "photostage_pipeline_stage_duration_seconds",
            "Time spent in each pipeline stage of a scene request (sync or job).",
            ["stage"], buckets=STAGE_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "photostage_errors", "Errors answered or recorded, by contract error code and type.",
            ["code", "type"], registry=self.registry,
        )
        self.cutout_refusals = Counter(
            "photostage_cutout_refusals",
            "Requests refused because no product could be cut out well enough (422 image errors).",
            ["code"], registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "photostage_webhook_attempts", "Webhook delivery attempts made by this process, by outcome "
            "(delivered, retry, failed: given up).", ["outcome"], registry=self.registry,
        )
        self.job_runs = Counter(
            "photostage_job_runs", "Job executions by this process, by outcome (DONE, ERROR, aborted, handed_back, "
            "skipped).", ["outcome"], registry=self.registry,
        )

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route, method).observe(seconds)

    def observe_stages(self, profiling_ms: Mapping[str, float]) -> None:
        """A finished pipeline run's stage timings (its ``profiling``, in milliseconds)."""
        for stage, ms in profiling_ms.items():
            if stage in ("total", "seed") or not isinstance(ms, int | float) or ms < 0:
                continue
            self.stage_seconds.labels(stage).observe(ms / 1000.0)

    def observe_error(self, code: str, error_type: str, status: int) -> None:
        self.errors.labels(code, error_type).inc()
        if (error_type, status) == CUTOUT_REFUSAL:
            self.cutout_refusals.labels(code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def series_names(exposition: bytes) -> Iterable[str]:
    """The metric names in a text exposition (for tests and `photostage doctor`)."""
    for line in exposition.decode().splitlines():
        if line and not line.startswith("#"):
            yield line.split("{", 1)[0].split(" ", 1)[0]
