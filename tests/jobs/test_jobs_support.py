"""Shared pieces of the job tests: real databases (a fresh SQLite file, or a fresh PostgreSQL
database created and dropped per test module), a fake scene pipeline that counts its outputs,
and a webhook receiver on loopback."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from photostage.contract.response import PipelineInputObject, PipelineOutputObject, ScenePipelineResponseOut

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"  # a DB number of our own; only our prefixed keys are removed


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration of the block (then dropped)."""
    name = f"photostage_jobs_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('jobs-db') / 'jobs.db'}"
        return
    with postgres_database() as url:
        yield url


@contextlib.contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own in our Redis DB; every key under it is deleted afterwards."""
    import redis

    prefix = f"photostage-test-{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class FakePipeline:
    """Stands in for the scene runner: reports progress, optionally sleeps or fails, and
    "writes" its outputs under the names the real runner uses ({request_id}_{i}), so a rerun
    overwrites rather than adds."""

    delay_s: float = 0.0
    fail_with: Exception | None = None
    written: dict[str, int] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def run(self, request, *, account_id, request_id, progress=None, stop=None):  # type: ignore[no-untyped-def]
        report = progress or (lambda stage, fraction: None)
        self.runs.append(request_id)
        self.started.set()
        report("fetch", 0.05)
        deadline = time.monotonic() + self.delay_s
        while time.monotonic() < deadline:
            time.sleep(0.02)
            report("render", 0.5)
        if self.fail_with is not None:
            raise self.fail_with
        count = request.output_options.number_of_images
        outputs = []
        for index in range(count):
            name = f"{request_id}_{index}.png"
            self.written[name] = self.written.get(name, 0) + 1
            outputs.append(PipelineOutputObject(ext="png", mps=0.01, mime="image/png", format="PNG", width=100,
                                                height=100, object_key=name, object_uri=f"memory://{name}"))
        report("done", 1.0)
        return ScenePipelineResponseOut(
            input=PipelineInputObject(ext="png", mps=0.01, mime="image/png", format="PNG", width=100, height=100),
            output=outputs,
            profiling={"render": 1.0, "seed": float(request.scene.seed or 0)},
        )


def effect_body(image_url: str = "data:image/png;base64,AAAA", images: int = 1, **output: object) -> dict:
    return {"object": {"image_url": image_url, "scale": 0.5}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": images, "format": "png", **output}}


# The guard of a wait on other processes (a worker starting, then rendering): far beyond what it
# takes on a busy 2-core machine (a worker's start alone took about 70 s under a load
# average of 12), so only a broken test ever reaches it; a process that died ends the wait at once.
PROCESS_GUARD_S = 900.0


def wait_for(condition: Callable[[], object], timeout_s: float = 120.0, interval_s: float = 0.02,
             alive: Sequence[subprocess.Popen] = ()) -> object:
    """``condition()`` once it is true. The bound only ends a broken test: it is far beyond what
    any condition needs on a loaded machine, and no test asserts how soon a condition came true.
    ``alive``: processes the condition depends on; one that exits ends the wait with its status
    (a test never waits out its guard for a worker that is gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for process in alive:
            if process.poll() is not None:
                raise AssertionError(f"process {process.args!r} exited ({process.returncode}) before the "
                                     "condition was met")
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


class WebhookReceiver:
    """A loopback HTTP server that records POSTs and answers with the next status of ``statuses``
    (the last one repeats)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[Received] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Received(body, {k.lower(): v for k, v in self.headers.items()}))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jobs(self) -> list[dict]:
        return [json.loads(item.body)["data"] for item in self.received]


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
