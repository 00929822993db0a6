"""The SDK's retry policy beyond 429/503: other statuses, dropped connections, a waiting budget,
and a caller's own httpx client (what ``photostage batch`` sends through)."""

from __future__ import annotations

import httpx
import pytest

from photostage.client import Client, RetryPolicy, ServerError

JOB = {
    "id": "j1", "status": "DONE", "result_url": "http://t/v1/scene/create/async/j1",
    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "attempts": 1,
    "progress": {"stage": "done", "fraction": 1.0}, "request": {},
}


def scripted(answers: list[object]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering from ``answers`` in order: a status code, or an exception to raise."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer == 200:
            return httpx.Response(200, json={"data": JOB})
        return httpx.Response(int(answer), json={"error_code": "2002", "error_type": "general",  # type: ignore[call-overload]
                                                 "error_message": "busy", "error_details": {}})

    return httpx.MockTransport(handle), seen


def test_dropped_connections_and_502_are_waited_out_when_asked() -> None:
    transport, seen = scripted([httpx.ConnectError("refused"), 502, 200])
    policy = RetryPolicy(max_retries=None, statuses=frozenset({502, 503}), transport_errors=True, budget_s=10)
    waits: list[float] = []
    with Client("http://t", "key", transport=transport, retry=policy, sleep=waits.append) as client:
        assert client.get_job("j1").data.status == "DONE"
    assert len(seen) == 3 and waits == [0.5, 1.0]


def test_a_dropped_connection_is_raised_by_default() -> None:
    transport, _ = scripted([httpx.ConnectError("refused"), 200])
    with Client("http://t", "key", transport=transport, sleep=lambda s: None) as client, \
            pytest.raises(httpx.ConnectError):
        client.get_job("j1")


def test_the_budget_ends_the_wait_with_the_last_answer() -> None:
    transport, seen = scripted([503] * 10)
    policy = RetryPolicy(max_retries=None, budget_s=3.0)
    waits: list[float] = []
    with Client("http://t", "key", transport=transport, retry=policy, sleep=waits.append) as client, \
            pytest.raises(ServerError) as failed:
        client.get_job("j1")
    assert failed.value.status == 503 and waits == [0.5, 1.0] and len(seen) == 3


def test_a_callers_client_is_used_and_left_open() -> None:
    transport, seen = scripted([200])
    http = httpx.Client(base_url="http://t/", transport=transport, headers={"Authorization": "Bearer k"})
    with Client(str(http.base_url), None, http=http) as client:
        client.get_job("j1")
    assert seen[0].headers["Authorization"] == "Bearer k" and not http.is_closed
    http.close()
