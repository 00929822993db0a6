"""Authentication comes before the body is read (DESIGN.md: auth → validate → ...): a request
without a valid key is 401 whatever its body, and its body is never parsed; with a key, the same
bodies get their own errors. The door's 503 still comes before everything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from photostage.api.app import create_app
from photostage.config import Settings

from ..conftest import loopback_listener, uvicorn_thread  # noqa: TID252
from .test_api_errors import assert_error

MAX_BODY = 64 * 1024
DEPTH = 8
MALFORMED = b'{"object": {"image_url": "data:,x"'
TOO_DEEP = b'{"a":' * 40 + b"1" + b"}" * 40
TOO_LARGE = b'{"pad": "' + b"x" * (MAX_BODY * 2) + b'"}'
BODIES = {"malformed": MALFORMED, "too-deep": TOO_DEEP, "too-large": TOO_LARGE}
PATHS = ["/v1/scene/create", "/v1/scene/create/async", "/v1/storage/storages", "/v1/webhooks"]


def small_settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False},
                    server={"max_body_bytes": MAX_BODY, "max_json_depth": DEPTH})


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    app = create_app(small_settings(tmp_path))
    secret, _ = app.state.services.keys.create("t")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, secret


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_a_bad_body_without_a_key_is_401(api, kind: str, path: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    json_header = {"content-type": "application/json"}
    assert_error(client.post(path, content=BODIES[kind], headers=json_header), 401, "111", "auth")
    wrong = {**json_header, "Authorization": "Bearer ps_not-a-key"}
    assert_error(client.post(path, content=BODIES[kind], headers=wrong), 401, "112", "auth")


def test_with_a_key_the_same_bodies_get_their_own_errors(api) -> None:  # type: ignore[no-untyped-def]
    client, secret = api
    headers = {"content-type": "application/json", "Authorization": f"Bearer {secret}"}
    assert_error(client.post("/v1/scene/create", content=MALFORMED, headers=headers), 422, "9000")
    deep = assert_error(client.post("/v1/scene/create", content=TOO_DEEP, headers=headers), 422)
    assert "deeper than 8" in deep["error_details"]["body"][0]
    assert_error(client.post("/v1/scene/create", content=TOO_LARGE, headers=headers), 400, "2013")


def test_a_streamed_oversize_body_without_a_key_is_401_over_a_real_socket(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length (chunked) and far past the cap: the answer is the 401, read by the
    client, not a reset connection; the server drops the connection instead of reading on."""
    app = create_app(small_settings(tmp_path))

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 16384

    with uvicorn_thread(app, loopback_listener()) as url, httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/v1/scene/create", content=chunks(), headers={"content-type": "application/json"})
        assert_error(response, 401, "111")
        assert response.headers["connection"] == "close"
        small = client.post("/v1/scene/create", content=MALFORMED, headers={"content-type": "application/json"})
        assert_error(small, 401, "111")
        assert client.get("/healthz").status_code == 200


def test_the_app_never_sees_an_unauthenticated_request() -> None:
    """The middleware answers by itself: routing, body parsing and validation are not reached."""
    from photostage.accounts import Principal
    from photostage.api.access import AccessCheck
    from photostage.api.middleware import RequestContextMiddleware

    seen: list[bytes] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append((await receive()).get("body", b""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def authenticate(token: str) -> Principal | None:
        return Principal(account_id=1, key_id=1, key_prefix="good") if token == "ps_good" else None

    gate = RequestContextMiddleware(inner, max_body_bytes=MAX_BODY, max_json_depth=DEPTH,
                                    access=AccessCheck(authenticate=authenticate))

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://t") as client:
            for body in BODIES.values():
                answer = await client.post("/v1/scene/create", content=body,
                                           headers={"content-type": "application/json"})
                assert answer.status_code == 401
            assert seen == []
            ok = await client.post("/v1/scene/create", content=b"{}",
                                   headers={"content-type": "application/json", "Authorization": "Bearer ps_good"})
            assert ok.status_code == 200 and seen == [b"{}"]
            assert (await client.get("/v1/tmp/anything")).status_code == 200  # signed URLs carry no key
            assert (await client.get("/healthz")).status_code == 200

    asyncio.run(scenario())


def test_the_door_still_sheds_before_authentication() -> None:
    """Past the in-flight limit a scene request is 503 even without a key: shedding costs nothing."""
    from photostage.api.access import AccessCheck
    from photostage.api.middleware import RequestContextMiddleware

    released = asyncio.Event()
    calls: list[str] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        await released.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def authenticate(token: str) -> None:
        calls.append(token)
        return None

    door = RequestContextMiddleware(inner, max_body_bytes=MAX_BODY, max_json_depth=DEPTH,
                                    gated_paths=frozenset({"/v1/scene/create"}), max_in_flight=1,
                                    access=AccessCheck(authenticate=authenticate))
    door.in_flight = 1  # the one place is taken

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=door), base_url="http://t") as client:
            for body in BODIES.values():
                refused = await client.post("/v1/scene/create", content=body,
                                            headers={"content-type": "application/json"})
                assert_error(refused, 503, "2002")
                assert refused.headers["retry-after"] == "2"
            answer = await client.post("/v1/storage/storages", content=MALFORMED)  # not gated: auth first
            assert_error(answer, 401, "111")
        assert calls == []  # no key lookup for a shed request

    asyncio.run(scenario())
