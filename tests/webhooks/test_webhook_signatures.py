"""Webhook signatures: ``t=<time>,v1=<HMAC of "<t>." + body>``, verifiable with the README's
snippet run verbatim, refused when replayed outside the tolerance; and nothing is ever signed
with a secret the account has not been shown."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from photostage.contract.errors import VALIDATION, PhotostageError
from photostage.db import make_engine, make_sessionmaker
from photostage.jobs.options import JobOptions
from photostage.schema import ensure_schema
from photostage.sources.policy import SourcePolicy
from photostage.webhooks.delivery import (
    NO_SECRET,
    SIGNATURE_HEADER,
    DueDelivery,
    GuardedPoster,
    WebhookSecrets,
    WebhookSender,
    sign,
    verify,
)

from ..jobs.test_jobs_support import WebhookReceiver  # noqa: TID252

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_test-secret"
BODY = b'{"data":{"id":"abc","status":"DONE"}}'
NOW = 1_800_000_000


def readme_verifier() -> Any:
    """``verify_webhook`` exactly as the README prints it (the python block that defines it)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (code,) = [block for block in blocks if "def verify_webhook(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README, on purpose
    return namespace["verify_webhook"]


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    ensure_schema(engine)
    from photostage.db import Account

    maker = make_sessionmaker(engine)
    with maker.begin() as session:
        session.add_all([Account(id=1, name="a"), Account(id=2, name="b")])
    return maker


def test_the_header_signs_the_time_with_the_body() -> None:
    header = sign(SECRET, BODY, NOW)
    assert re.fullmatch(r"t=1800000000,v1=[0-9a-f]{64}", header)
    assert verify(SECRET, BODY, header, now=NOW + 299)
    assert not verify(SECRET, BODY, header, now=NOW + 301)  # a replay, five minutes on
    assert not verify(SECRET, BODY, header, now=NOW - 301)
    assert not verify(SECRET, BODY + b" ", header, now=NOW)
    assert not verify("whsec_other", BODY, header, now=NOW)
    moved = header.replace("t=1800000000", "t=1800000300")  # a fresh time on an old signature
    assert not verify(SECRET, BODY, moved, now=NOW + 300)
    for broken in ("", "sha256=" + "0" * 64, "t=x,v1=00", "v1=" + header.split("v1=")[1], "t=1,t=2,v1=0"):
        assert not verify(SECRET, BODY, broken, now=NOW)


def test_the_readme_snippet_verbatim_verifies_a_real_delivery_and_refuses_replays(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    verify_webhook = readme_verifier()
    secrets_store = WebhookSecrets(sessions)
    secret = secrets_store.create_if_missing(1)
    assert secret is not None
    with WebhookReceiver() as receiver:
        policy = SourcePolicy(allow_hosts=("127.0.0.1",))
        sender = WebhookSender(sessions, secrets_store, GuardedPoster(policy, 30.0), JobOptions())
        assert sender.send(DueDelivery(7, 1, "job.done", receiver.url, BODY.decode(), 0))
    (received,) = receiver.received
    header = received.headers[SIGNATURE_HEADER.lower()]
    assert received.body == BODY and received.headers["x-photostage-delivery"] == "7"
    assert verify_webhook(secret, received.body, header)
    assert not verify_webhook(secret, received.body + b"x", header)
    assert not verify_webhook("whsec_wrong", received.body, header)
    sent_at = int(header.split(",")[0].removeprefix("t="))
    import time as time_module

    monkeypatch.setattr(time_module, "time", lambda: sent_at + 301.0)
    assert not verify_webhook(secret, received.body, header)  # the same request, replayed later
    monkeypatch.setattr(time_module, "time", lambda: sent_at + 299.0)
    assert verify_webhook(secret, received.body, header)
    for value in ("", "garbage", header.replace("v1=", "v0=")):
        assert not verify_webhook(secret, BODY, value)


def test_the_readme_snippet_and_the_library_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    verify_webhook = readme_verifier()
    import time as time_module

    monkeypatch.setattr(time_module, "time", lambda: float(NOW))
    good = sign(SECRET, BODY, NOW)
    for header in (good, good + ",v1=" + "0" * 64, "t=1800000000", good.replace("t=", "t= "),
                   sign(SECRET, BODY, NOW - 400), sign(SECRET, BODY, NOW + 400), "t=-5," + good.split(",")[1]):
        assert verify_webhook(SECRET, BODY, header) == verify(SECRET, BODY, header), header


def test_a_per_request_webhook_needs_a_secret_the_account_has_seen(client, auth, product_uri) -> None:  # type: ignore[no-untyped-def]
    body = {"object": {"image_url": product_uri}, "scene": {"effect": "shadows"}}
    with WebhookReceiver() as receiver:
        refused = client.post("/v1/scene/create/async", json=body, headers=auth,
                              params={"webhook_url": receiver.url})
        assert refused.status_code == 422, refused.text
        error = refused.json()
        assert error["error_code"] == VALIDATION.code and error["error_details"]["webhook_url"] == [NO_SECRET]
        by_header = client.post("/v1/scene/create/async", json=body, headers={**auth, "X-Webhook-Url": receiver.url})
        assert by_header.status_code == 422
        assert client.get("/v1/webhooks", headers=auth).json()["data"]["secret_configured"] is False

        secret = client.post("/v1/webhooks/secret", headers=auth).json()["data"]["secret"]
        accepted = client.post("/v1/scene/create/async", json=body, headers=auth, params={"webhook_url": receiver.url})
        assert accepted.status_code == 202, accepted.text
        for _ in range(6000):  # bounded by count, not by a clock
            if receiver.received:
                break
            threading.Event().wait(0.05)
    (received,) = receiver.received
    assert verify(secret, received.body, received.headers[SIGNATURE_HEADER.lower()])
    assert json.loads(received.body)["data"]["id"] == accepted.json()["data"]["id"]


def test_the_sender_never_makes_a_secret_nor_sends_unsigned(sessions: sessionmaker[Session]) -> None:
    secrets_store = WebhookSecrets(sessions)
    assert secrets_store.signing_secret(2) is None
    with WebhookReceiver() as receiver:
        policy = SourcePolicy(allow_hosts=("127.0.0.1",))
        sender = WebhookSender(sessions, secrets_store, GuardedPoster(policy, 30.0), JobOptions(),
                               clock=lambda: datetime.fromtimestamp(NOW, UTC))
        assert not sender.send(DueDelivery(1, 2, "job.done", receiver.url, BODY.decode(), 0))
    assert receiver.received == []  # the canary: nothing went out
    assert secrets_store.signing_secret(2) is None and not secrets_store.exists(2)
    with pytest.raises(PhotostageError) as caught:
        secrets_store.require(2)
    assert caught.value.kind is VALIDATION


def test_two_first_webhooks_racing_show_one_secret(sessions: sessionmaker[Session]) -> None:
    """Of callers racing to make an account's first secret, one makes it and shows it; no one
    replaces it with a secret nobody saw."""
    store = WebhookSecrets(sessions)
    barrier = threading.Barrier(4, timeout=60)
    shown: list[str | None] = []
    original_exists = store.exists

    def held_exists(account_id: int) -> bool:
        answer = original_exists(account_id)
        barrier.wait()  # everyone has looked before anyone inserts
        return answer

    store.exists = held_exists  # type: ignore[method-assign]
    threads = [threading.Thread(target=lambda: shown.append(store.create_if_missing(1))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [secret for secret in shown if secret is not None]
    assert len(made) == 1 and store.signing_secret(1) == made[0]
