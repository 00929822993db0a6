"""SceneService.create, the one way a scene is created: a synchronous request is refused when the
render slots are full and pays for itself; a job's execution waits for a slot and is not charged
again (its credits were reserved when it was accepted)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from photostage.accounts import Credits, KeyStore
from photostage.config import Settings
from photostage.contract.errors import OVERLOADED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import PipelineInputObject, ScenePipelineResponseOut
from photostage.db import make_engine, make_sessionmaker
from photostage.idempotency import IdempotencyStore
from photostage.pipeline.service import JobRun, SceneService
from photostage.scenes.registry import local_engines
from photostage.schema import ensure_schema

REQUEST = SceneCreateAPIIn.model_validate(
    {"object": {"image_url": "https://example.test/a.png"}, "scene": {"effect": "shadows"},
     "output": {"number_of_images": 2}}
)


class CountingRunner:
    def __init__(self) -> None:
        self.runs: list[str] = []

    def run(self, request, *, account_id, request_id, progress=None, results=None, stop=None, may_queue=False):  # type: ignore[no-untyped-def]
        self.runs.append(request_id)
        return ScenePipelineResponseOut(
            input=PipelineInputObject(ext="png", mps=0.1, mime="image/png", format="PNG", width=1, height=1),
            output=[], profiling={},
        )


@pytest.fixture
def parts(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.sqlalchemy_url)
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    account = KeyStore(sessions).create("scenes")[1].account_id
    credits = Credits(sessions)
    credits.set(account, 5)
    runner = CountingRunner()
    service = SceneService(runner, local_engines(), credits, IdempotencyStore(sessions, 60.0),
                           threading.BoundedSemaphore(1), request_deadline_s=30.0)
    yield service, runner, credits, account
    engine.dispose()


def test_a_sync_create_pays_and_is_refused_when_the_slots_are_full(parts) -> None:  # type: ignore[no-untyped-def]
    service, runner, credits, account = parts
    created = service.create(REQUEST, account_id=account, request_id="r1")
    assert not created.replayed and runner.runs == ["r1"] and credits.left(account) == 3
    assert service.capacity.acquire(blocking=False)
    try:
        with pytest.raises(PhotostageError) as refused:
            service.create(REQUEST, account_id=account, request_id="r2")
    finally:
        service.capacity.release()
    assert refused.value.kind is OVERLOADED and runner.runs == ["r1"] and credits.left(account) == 3


def test_a_job_waits_for_a_slot_and_is_not_charged_again(parts) -> None:  # type: ignore[no-untyped-def]
    service, runner, credits, account = parts
    assert service.capacity.acquire(blocking=False)
    done = threading.Event()

    def execute() -> None:
        service.create(REQUEST, account_id=account, request_id="job", job=JobRun(lambda s, f: None, None))  # type: ignore[arg-type]
        done.set()

    worker = threading.Thread(target=execute)
    worker.start()
    assert not done.wait(0.2) and runner.runs == []  # waiting for the slot, not refused
    service.capacity.release()
    assert done.wait(300) and runner.runs == ["job"]
    worker.join()
    assert credits.left(account) == 5  # paid when the job was accepted, not here
