"""The job service on real databases (SQLite and PostgreSQL) with a fake scene pipeline:
lifecycle, leases and recovery, cancellation, credits, idempotency, backpressure, webhooks."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from photostage.accounts import Credits, KeyStore, Principal
from photostage.config import Settings
from photostage.contract.errors import CONFLICT, OVERLOADED, SCENE_FAILED, VALIDATION, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.db import make_engine, make_sessionmaker, utcnow
from photostage.idempotency import IdempotencyRecord, IdempotencyStore
from photostage.jobs.models import Job
from photostage.jobs.options import JobOptions
from photostage.jobs.service import JobService
from photostage.schema import ensure_schema
from photostage.webhooks.delivery import SIGNATURE_HEADER, verify
from photostage.webhooks.models import WebhookDelivery

from .test_jobs_support import FakePipeline, WebhookReceiver, database_url, effect_body, wait_for  # noqa: F401

# lease_s is long enough that a worker stalled by a busy machine keeps its job (with 1 s, a stall of
# a second could let the reaper hand a running job to the other local worker: attempts 2); tests
# that need a lease to run out claim with a short one and move the store's clock.
FAST = JobOptions(lease_s=10.0, poll_s=0.05, webhook_backoff_s=0.05, webhook_max_attempts=3,
                  local_workers=2, undispatched_grace_s=0.5)


@dataclasses.dataclass
class World:
    settings: Settings
    sessions: object
    keys: KeyStore
    credits: Credits
    services: list[JobService]

    def service(self, pipeline: FakePipeline, options: JobOptions = FAST) -> JobService:
        service = JobService(self.settings, options, self.sessions, self.keys, self.credits, pipeline)  # type: ignore[arg-type]
        self.services.append(service)
        return service

    def principal(self, credits: int | None = None) -> Principal:
        secret, _ = self.keys.create("test")
        principal = self.keys.authenticate(secret)
        assert principal is not None
        if credits is not None:
            self.credits.set(principal.account_id, credits)
        return principal


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    import photostage.jobs.models  # noqa: F401

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        sources={"allow_hosts": ["127.0.0.1"]})
    engine = make_engine(database_url)
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    world = World(settings, sessions, KeyStore(sessions), Credits(sessions), [])
    yield world
    for service in world.services:
        service.stop()
    with sessions.begin() as session:
        for table in (WebhookDelivery, IdempotencyRecord, Job):
            session.execute(delete(table))
    engine.dispose()


def body(images: int = 1, **scene: object) -> SceneCreateAPIIn:
    request = effect_body(images=images)
    request["scene"].update(scene)
    return SceneCreateAPIIn.model_validate(request)


def final(service: JobService, account_id: int, job_id: str, timeout_s: float = 10.0):  # type: ignore[no-untyped-def]
    return wait_for(lambda: (job := service.get(account_id, job_id)).status in ("DONE", "ERROR", "CANCELLED")
                    and job, timeout_s)


def test_a_job_runs_to_done_with_the_sync_result_and_a_fixed_seed(world: World) -> None:
    pipeline = FakePipeline()
    service = world.service(pipeline)
    service.start()
    principal = world.principal()
    accepted = service.submit(principal, body(images=2)).job
    assert accepted.status in ("ACCEPTED", "PROCESSING", "DONE")
    assert accepted.result_url.endswith(f"/v1/scene/create/async/{accepted.id}")
    assert accepted.request == effect_body(images=2)
    job = final(service, principal.account_id, accepted.id)
    assert job.status == "DONE" and job.attempts == 1 and job.error is None
    assert job.progress.stage == "done" and job.progress.fraction == 1.0
    assert [output.object_key for output in job.result.output] == [f"{job.id}_0.png", f"{job.id}_1.png"]
    assert job.result.profiling["seed"] > 0  # a seed was fixed at acceptance (reruns render the same)
    assert job.started_at is not None and job.finished_at >= job.started_at


def test_a_failing_job_ends_in_error_with_the_contract_body_and_refunds_credits(world: World) -> None:
    service = world.service(FakePipeline(fail_with=PhotostageError(SCENE_FAILED, details={"scene": ["boom"]})))
    principal = world.principal(credits=5)
    accepted = service.submit(principal, body(images=2)).job
    assert world.credits.left(principal.account_id) == 3  # reserved; the runner starts only now, so
    service.start()  # the job cannot have failed and refunded before this line (no race with it)
    job = final(service, principal.account_id, accepted.id)
    assert job.status == "ERROR"
    assert job.error.model_dump() == PhotostageError(SCENE_FAILED, details={"scene": ["boom"]}).body().model_dump()
    assert world.credits.left(principal.account_id) == 5


def test_an_unexpected_exception_is_an_internal_error(world: World) -> None:
    service = world.service(FakePipeline(fail_with=RuntimeError("secret detail")))
    service.start()
    principal = world.principal()
    job = final(service, principal.account_id, service.submit(principal, body()).job.id)
    assert job.status == "ERROR" and job.error.error_code == "2500"
    assert "secret detail" not in job.error.error_message


def test_cancel_an_accepted_job_refunds_and_is_final(world: World) -> None:
    pipeline = FakePipeline()
    service = world.service(pipeline)  # not started: the job stays ACCEPTED
    principal = world.principal(credits=4)
    job_id = service.submit(principal, body(images=3)).job.id
    cancelled = service.cancel(principal.account_id, job_id)
    assert cancelled.status == "CANCELLED" and cancelled.finished_at is not None
    assert world.credits.left(principal.account_id) == 4
    assert service.cancel(principal.account_id, job_id).status == "CANCELLED"
    assert world.credits.left(principal.account_id) == 4  # refunded once
    assert service.executor.execute(job_id) == "final" and pipeline.runs == []


def test_cancel_a_running_job_stops_it_and_it_never_becomes_done(world: World) -> None:
    pipeline = FakePipeline(delay_s=1.0)
    service = world.service(pipeline)
    service.start()
    principal = world.principal()
    job_id = service.submit(principal, body()).job.id
    wait_for(lambda: service.get(principal.account_id, job_id).status == "PROCESSING")
    assert service.cancel(principal.account_id, job_id).status == "CANCELLED"
    wait_for(lambda: service.store.get(job_id).lease_owner is None)
    assert service.executor.wait_idle(300)  # the render has ended (the bound only ends a broken test)
    assert service.get(principal.account_id, job_id).status == "CANCELLED"
    assert pipeline.written == {}


def test_another_account_cannot_see_or_cancel_a_job(world: World) -> None:
    service = world.service(FakePipeline())
    owner, stranger = world.principal(), world.principal()
    job_id = service.submit(owner, body()).job.id
    for attempt in (service.get, service.cancel, service.deliveries):
        with pytest.raises(PhotostageError) as caught:
            attempt(stranger.account_id, job_id)
        assert caught.value.status == 404
    assert service.page(stranger.account_id, [], 10, 0).meta.total == 0


def test_idempotency_key_replays_the_same_job_and_refuses_another_body(world: World) -> None:
    service = world.service(FakePipeline())
    principal, other = world.principal(credits=10), world.principal()
    first = service.submit(principal, body(), idempotency_key="order-1")
    again = service.submit(principal, body(), idempotency_key="order-1")
    assert not first.replayed and again.replayed and again.job.id == first.job.id
    assert world.credits.left(principal.account_id) == 9  # charged once
    with pytest.raises(PhotostageError) as caught:
        service.submit(principal, body(images=2), idempotency_key="order-1")
    assert caught.value.kind == CONFLICT and caught.value.status == 409
    assert service.submit(other, body(), idempotency_key="order-1").job.id != first.job.id
    with pytest.raises(PhotostageError) as caught:
        service.submit(principal, body(), idempotency_key="")
    assert caught.value.kind == VALIDATION


def test_concurrent_submissions_with_one_key_make_one_job(world: World) -> None:
    service = world.service(FakePipeline())
    principal = world.principal()
    results: list[str] = []

    def submit() -> None:
        results.append(service.submit(principal, body(), idempotency_key="same").job.id)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1


def test_a_full_queue_answers_overloaded_with_retry_after(world: World) -> None:
    service = world.service(FakePipeline(), dataclasses.replace(FAST, max_queue=2))
    principal = world.principal(credits=10)
    service.submit(principal, body())
    service.submit(principal, body())
    with pytest.raises(PhotostageError) as caught:
        service.submit(principal, body())
    assert caught.value.kind == OVERLOADED and caught.value.status == 503
    assert int(caught.value.headers["Retry-After"]) >= 1
    assert world.credits.left(principal.account_id) == 8


def test_only_one_of_many_concurrent_claims_wins(world: World) -> None:
    service = world.service(FakePipeline())
    job_id = service.submit(world.principal(), body()).job.id
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def claim(number: int) -> None:
        barrier.wait()
        outcomes.append(service.store.claim(job_id, f"worker-{number}", 30, 5).reason)

    threads = [threading.Thread(target=claim, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed"] + ["leased"] * 7


def test_a_job_whose_worker_died_is_run_again_and_writes_each_output_once(world: World) -> None:
    pipeline = FakePipeline()
    service = world.service(pipeline)
    principal = world.principal()
    job_id = service.submit(principal, body(images=3)).job.id
    # A worker took the job, wrote one output, and died without renewing its lease; the store's
    # clock is then a minute on, so that lease has run out whatever the machine's speed.
    assert service.store.claim(job_id, "dead-worker", 0.2, 5).reason == "claimed"
    pipeline.written[f"{job_id}_0.png"] = 1
    service.store.clock = lambda: utcnow() + timedelta(seconds=60)
    service.start()
    service.reap()  # this test's reaper pass (the loop's own comes lease_s / 2 later)
    job = final(service, principal.account_id, job_id)
    assert job.status == "DONE" and job.attempts == 2
    assert sorted(pipeline.written) == [f"{job_id}_{index}.png" for index in range(3)]
    assert service.executor.execute(job_id) == "final"  # a DONE job is never run again
    assert pipeline.runs == [job_id]


def test_a_restart_loses_no_accepted_job(world: World) -> None:
    first = world.service(FakePipeline())
    principal = world.principal()
    job_ids = [first.submit(principal, body()).job.id for _ in range(4)]
    first.stop()
    pipeline = FakePipeline()
    second = world.service(pipeline)
    second.start()
    for job_id in job_ids:
        assert final(second, principal.account_id, job_id).status == "DONE"
    assert sorted(pipeline.runs) == sorted(job_ids)


def test_a_job_that_keeps_killing_its_worker_is_given_up(world: World) -> None:
    options = dataclasses.replace(FAST, max_attempts=2)
    service = world.service(FakePipeline(), options)
    principal = world.principal(credits=3)
    job_id = service.submit(principal, body()).job.id
    for attempt in range(2):
        assert service.store.claim(job_id, f"doomed-{attempt}", 0.0, 2).reason == "claimed"
        service.store.release_expired()
    service.reap()
    job = service.get(principal.account_id, job_id)
    assert job.status == "ERROR" and "2 attempts" in job.error.error_message
    assert world.credits.left(principal.account_id) == 3


def test_listing_filters_by_status_pages_and_polls_changes(world: World) -> None:
    service = world.service(FakePipeline())
    principal = world.principal()
    job_ids = [service.submit(principal, body()).job.id for _ in range(5)]
    before = utcnow() - timedelta(seconds=1)
    service.cancel(principal.account_id, job_ids[1])
    first_page = service.page(principal.account_id, [], 2, 0)
    assert first_page.meta.total == 5 and [job.id for job in first_page.jobs] == job_ids[::-1][:2]
    assert [job.id for job in service.page(principal.account_id, [], 2, 4).jobs] == [job_ids[0]]
    cancelled = service.page(principal.account_id, ["CANCELLED"], 10, 0)
    assert [job.id for job in cancelled.jobs] == [job_ids[1]]
    changed = service.page(principal.account_id, ["CANCELLED", "DONE"], 10, 0, updated_since=before)
    assert [job.id for job in changed.jobs] == [job_ids[1]]
    with pytest.raises(PhotostageError) as caught:
        service.page(principal.account_id, ["FINISHED"], 10, 0)
    assert caught.value.kind == VALIDATION


def test_webhooks_are_signed_logged_and_retried_with_backoff(world: World) -> None:
    with WebhookReceiver(statuses=[500, 503, 204]) as receiver:
        service = world.service(FakePipeline())
        service.start()
        principal = world.principal()
        config = service.set_webhook(principal, receiver.url)
        assert config.url == receiver.url and config.secret and config.secret_configured
        assert service.set_webhook(principal, receiver.url).secret is None  # shown once
        job_id = service.submit(principal, body()).job.id
        wait_for(lambda: len(receiver.received) == 3)
        deliveries = wait_for(lambda: [d for d in service.deliveries(principal.account_id, job_id)
                                       if d.status == "DELIVERED"])
    assert deliveries[0].attempts == 3 and deliveries[0].event == "job.done"
    assert deliveries[0].last_status_code == 204 and deliveries[0].url == receiver.url
    last = receiver.received[-1]
    assert verify(config.secret, last.body, last.headers[SIGNATURE_HEADER.lower()])
    assert last.headers[SIGNATURE_HEADER.lower()].startswith("t=")
    sent = json.loads(last.body)["data"]
    assert sent == service.get(principal.account_id, job_id).model_dump(mode="json")
    assert sent["status"] == "DONE"


def test_a_webhook_that_keeps_failing_stops_after_max_attempts(world: World) -> None:
    with WebhookReceiver(statuses=[500]) as receiver:
        service = world.service(FakePipeline())
        service.start()
        principal = world.principal()
        service.rotate_secret(principal.account_id)
        job_id = service.submit(principal, body(), webhook_url=receiver.url).job.id
        delivery = wait_for(lambda: [d for d in service.deliveries(principal.account_id, job_id)
                                     if d.status == "FAILED"])[0]
        assert delivery.attempts == FAST.webhook_max_attempts == len(receiver.received)
        assert delivery.last_status_code == 500 and delivery.next_attempt_at is None


def test_webhook_targets_go_through_the_ssrf_guard(world: World, tmp_path: Path) -> None:
    world.settings = Settings(data_dir=tmp_path / "strict", database_url=world.settings.database_url)
    service = world.service(FakePipeline())
    principal = world.principal()
    service.rotate_secret(principal.account_id)
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.1/x", "ftp://example.com/", "http://user:pw@example.com/"):
        with pytest.raises(PhotostageError) as caught:
            service.submit(principal, body(), webhook_url=url)
        assert caught.value.kind == VALIDATION and "webhook_url" in caught.value.details
    # A host name is checked where it cannot be bypassed: when connecting.
    with WebhookReceiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        service.start()
        job_id = service.submit(principal, body(), webhook_url=url).job.id
        delivery = wait_for(lambda: [d for d in service.deliveries(principal.account_id, job_id) if d.attempts])[0]
        assert receiver.received == []
    assert delivery.last_status_code is None and "loopback" in delivery.last_error


def test_sync_idempotency_replays_successes_and_refuses_duplicates_in_flight(world: World) -> None:
    clock = [utcnow()]
    store = IdempotencyStore(world.sessions, ttl_s=60, clock=lambda: clock[0])  # type: ignore[arg-type]
    account = world.principal().account_id
    ticket = store.begin_sync(account, "k1", "digest-a", stale_after_s=30)
    assert ticket.record_id is not None and ticket.replay is None
    with pytest.raises(PhotostageError) as caught:
        store.begin_sync(account, "k1", "digest-a", stale_after_s=30)
    assert caught.value.kind == CONFLICT  # still running
    store.complete_sync(ticket.record_id, {"data": {"answer": 1}})
    assert store.begin_sync(account, "k1", "digest-a", stale_after_s=30).replay == {"data": {"answer": 1}}
    with pytest.raises(PhotostageError):
        store.begin_sync(account, "k1", "digest-b", stale_after_s=30)
    failed = store.begin_sync(account, "k2", "digest-a", stale_after_s=30)
    store.abandon_sync(failed.record_id)  # type: ignore[arg-type]
    assert store.begin_sync(account, "k2", "digest-a", stale_after_s=30).record_id is not None
    clock[0] += timedelta(seconds=61)  # a day later (here: the TTL) the key is free again
    assert store.begin_sync(account, "k1", "digest-b", stale_after_s=30).replay is None
    assert store.sweep() >= 1


class RecordingDispatcher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[str] = []

    def submit(self, job_id: str) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append(job_id)

    def start(self) -> None:
        return

    def stop(self, timeout_s: float = 5.0) -> None:
        return


def test_a_job_whose_message_never_went_out_or_was_lost_is_sent_again_once(world: World) -> None:
    options = dataclasses.replace(FAST, undispatched_grace_s=0.0, redispatch_after_s=0.3)
    api, other = world.service(FakePipeline(), options), world.service(FakePipeline(), options)
    api.dispatcher = RecordingDispatcher(fail=True)
    principal = world.principal()
    job_id = api.submit(principal, body()).job.id  # accepted although the broker is down
    assert api.get(principal.account_id, job_id).status == "ACCEPTED"
    api.dispatcher, other.dispatcher = RecordingDispatcher(), RecordingDispatcher()
    now = [utcnow() + timedelta(seconds=1)]  # the reapers' clock: a busy machine cannot age the message
    api.store.clock = other.store.clock = lambda: now[0]
    assert api.reap() + other.reap() == 1  # two reapers, one message
    assert api.dispatcher.sent + other.dispatcher.sent == [job_id]
    assert api.reap() + other.reap() == 0
    now[0] += timedelta(seconds=0.4)  # the message was lost: nobody took the job
    assert api.reap() + other.reap() == 1
    assert len(api.dispatcher.sent + other.dispatcher.sent) == 2


def test_temporary_results_of_a_rerun_replace_the_first_attempts(tmp_path: Path) -> None:
    from photostage.jobs.execute import JobResultsTmp
    from photostage.storage.tmp import TmpStore

    store = TmpStore(tmp_path / "tmp", signing_key="k" * 32, ttl_s=3600, base_url="http://test")
    tmp = JobResultsTmp(store)
    first = tmp.put(b"one", "png", "job123", 0)
    other = tmp.put(b"other", "png", "job123", 1)
    second = tmp.put(b"two", "png", "job123", 0)  # the rerun
    assert sorted(path.name for path in (tmp_path / "tmp").iterdir()) == sorted([second.name, other.name])
    expires, signature = second.url.split("expires=")[1].split("&signature=")
    assert store.open(second.name, int(expires), signature).read_bytes() == b"two"
    assert first.name.split("-")[1] == second.name.split("-")[1]  # one name per job and index


def test_a_sync_claim_lapses_when_its_process_stops_renewing_it(world: World) -> None:
    """The API process handling a request with an Idempotency-Key renews its claim; when that
    process dies the claim lapses after claim_s (not the request deadline) and a retry takes it."""
    clock = [utcnow()]
    holder = IdempotencyStore(world.sessions, ttl_s=3600, clock=lambda: clock[0], claim_s=10)  # type: ignore[arg-type]
    other = IdempotencyStore(world.sessions, ttl_s=3600, clock=lambda: clock[0], claim_s=10)  # type: ignore[arg-type]
    account = world.principal().account_id
    ticket = holder.begin_sync(account, "crash", "digest", stale_after_s=360)
    for _ in range(5):  # a long render: 5 × 6 s, renewed all along
        clock[0] += timedelta(seconds=6)
        assert holder.renew_held() == 1
        with pytest.raises(PhotostageError) as caught:
            other.begin_sync(account, "crash", "digest", stale_after_s=360)
        assert caught.value.kind == CONFLICT and "released within 10 s" in caught.value.public_message
    clock[0] += timedelta(seconds=11)  # the holder died: nobody renewed for longer than claim_s
    retry = other.begin_sync(account, "crash", "digest", stale_after_s=360)
    assert retry.record_id == ticket.record_id and retry.replay is None
    other.complete_sync(retry.record_id, {"data": {"ok": True}})  # type: ignore[arg-type]
    assert holder.renew_held() == 0  # the old holder's claim is gone with the answer
    assert other.begin_sync(account, "crash", "digest", stale_after_s=360).replay == {"data": {"ok": True}}


def test_a_hung_render_stops_renewing_after_its_deadline_and_is_cancelled_at_its_next_step(world: World) -> None:
    from photostage.jobs.execute import LeaseKeeper

    options = dataclasses.replace(FAST, lease_s=30.0, request_deadline_s=300.0, hung_margin_s=60.0)
    service = world.service(FakePipeline(), options)
    job_id = service.submit(world.principal(), body()).job.id
    claim = service.store.claim(job_id, "worker-a", options.lease_s, options.max_attempts)
    assert claim.job is not None
    now = [1000.0]
    lease = LeaseKeeper(service.store, job_id, "worker-a", options, clock=lambda: now[0])
    lease._started = now[0]
    now[0] += 300.0 + 59.0
    assert lease.beat() and not lease.lost.is_set()  # past the deadline but within the margin
    now[0] += 2.0
    assert not lease.beat() and lease.hung.is_set() and lease.lost.is_set()  # no more renewals
    assert service.store.get(job_id).lease_owner == "worker-a"  # the lease now runs out by itself


def test_a_stopping_worker_hands_its_job_back_after_the_grace(world: World) -> None:
    """Stop with a job running: it gets shutdown_grace_s to finish, then goes back to ACCEPTED
    (its attempt not counted) and is dispatched at once; its pipeline stops at its next step."""
    pipeline = FakePipeline(delay_s=30.0)
    stopping = world.service(pipeline, dataclasses.replace(FAST, lease_s=30.0, local_workers=1))
    stopping.start()
    principal = world.principal()
    job_id = stopping.submit(principal, body()).job.id
    assert pipeline.started.wait(300)  # a guard against a broken test, not a timing
    assert stopping.drain(grace_s=0.0) == [job_id]
    job = stopping.get(principal.account_id, job_id)
    assert job.status == "ACCEPTED" and job.attempts == 0
    assert stopping.executor.running() == []  # the render stopped at its next progress report
    taker = world.service(FakePipeline(), dataclasses.replace(FAST, local_workers=1))
    taker.start()
    done = final(taker, principal.account_id, job_id)
    assert done.status == "DONE" and done.attempts == 1


def test_a_message_taken_after_the_stop_began_is_sent_again_at_once(world: World) -> None:
    """A broker worker that takes a message while it stops leaves the job ACCEPTED and sends the
    message again for another worker (not after redispatch_after_s); the local runner does not
    (its queue ends with the process, whose next start queues every ACCEPTED job)."""
    principal = world.principal()
    for runner, sent_again in (("celery", 1), ("local", 0)):
        service = world.service(FakePipeline(), dataclasses.replace(FAST, runner=runner))
        service.dispatcher = RecordingDispatcher()
        job_id = service.submit(principal, body()).job.id
        service.dispatcher.sent.clear()
        service.executor.stopping.set()
        assert service.executor.execute(job_id) == "stopping"
        assert service.dispatcher.sent == [job_id] * sent_again
        assert service.get(principal.account_id, job_id).status == "ACCEPTED"
