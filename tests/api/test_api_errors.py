"""Errors in the contract's format with the contract's statuses, and the headers on every answer."""

from __future__ import annotations

import pytest

from photostage.api.app import create_app
from photostage.config import Settings

from ..conftest import data_uri  # noqa: TID252

VALID = {"object": {"image_url": "data:,x"}, "scene": {"effect": "shadows"}}


def assert_error(response, status: int, code: str | None = None, error_type: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_type", "error_message", "error_details"}
    assert response.headers["x-request-id"]
    if code:
        assert body["error_code"] == code
    if error_type:
        assert body["error_type"] == error_type
    return body


def test_missing_key_is_401_code_111(client):
    body = assert_error(client.post("/v1/scene/create", json=VALID), 401, "111", "auth")
    assert body["error_message"].startswith("Authorization is required.")  # Claid's words, then what to do
    assert "Authorization: Bearer <your API key>" in body["error_message"]


@pytest.mark.parametrize(
    ("header", "says"),
    [("ps_abcdef", "`Bearer ` prefix is missing"), ("Basic dXNlcjpwdw==", "not Basic"), ("Bearer ", "Bearer")],
)
def test_a_malformed_authorization_header_says_what_to_send(client, header, says):
    body = assert_error(client.post("/v1/scene/create", json=VALID, headers={"Authorization": header}), 401, "111")
    assert says in body["error_message"]
    assert "ps_abcdef" not in body["error_message"]  # a key sent without its prefix is never echoed


def test_wrong_key_is_401(client):
    assert_error(client.post("/v1/scene/create", json=VALID, headers={"Authorization": "Bearer ps_nope"}), 401)


def test_revoked_key_is_401(client, app, auth, api_key):
    info = app.state.services.keys.list()[0]
    assert app.state.services.keys.revoke(str(info.id))
    assert_error(client.post("/v1/scene/create", json=VALID, headers=auth), 401, "112")


def test_keys_are_stored_hashed(app, api_key):
    from sqlalchemy import select

    from photostage.db import ApiKey

    with app.state.services.sessions() as session:
        stored = session.scalars(select(ApiKey)).all()
    assert stored and all(api_key not in (row.secret_hash, row.prefix) for row in stored)


def test_unknown_route_is_404(client, auth):
    assert_error(client.get("/v1/nope", headers=auth), 404, "2004")
    assert_error(client.get("/nope"), 404, "2004")
    assert_error(client.get("/v1/nope"), 401, "111")  # the API's paths are not probed without a key


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"scene": {"effect": "shadows"}}, "object"),
        ({"object": {"image_url": "x"}}, "scene"),
        ({**VALID, "extra": 1}, "extra"),
        ({"object": {"image_url": "x", "scale": 0}, "scene": {"effect": "shadows"}}, "object.scale"),
        ({"object": {"image_url": "x", "scale": 1.5}, "scene": {"effect": "shadows"}}, "object.scale"),
        ({"object": {"image_url": "x", "rotation_degree": 361}, "scene": {"effect": "shadows"}},
         "object.rotation_degree"),
        ({"object": {"image_url": "x", "position": {"x": 2}}, "scene": {"effect": "shadows"}}, "object.position.x"),
        ({"object": {"image_url": "x", "position": {"x": 0.5, "z": 1}}, "scene": {"effect": "shadows"}},
         "object.position.z"),
        ({"object": {"image_url": ""}, "scene": {"effect": "shadows"}}, "object.image_url"),
        ({"object": {"image_url": "x" * 4097}, "scene": {"effect": "shadows"}}, "object.image_url"),
        ({"object": {"image_url": "x", "placement_type": "padding"}, "scene": {"effect": "shadows"}},
         "object.padding"),
        ({"object": {"image_url": "x", "placement_type": "padding", "padding": "60%"},
          "scene": {"effect": "shadows"}}, "object.padding"),
        ({"object": {"image_url": "x", "placement_type": "padding", "padding": "ten"},
          "scene": {"effect": "shadows"}}, "object.padding"),
        ({"object": {"image_url": "x", "placement_type": "original", "scale": 0.5},
          "scene": {"effect": "shadows"}}, "object.scale"),
        ({"object": {"image_url": "x", "placement_type": "sideways"}, "scene": {"effect": "shadows"}}, "object"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "glow"}}, "scene.effect"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "shadows", "color": "redd"}}, "scene.color"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "shadows", "color": "#12345"}}, "scene.color"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "shadows", "view": "side"}}, "scene.view"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "shadows", "aspect_ratio": "5:3"}},
         "scene.aspect_ratio"),
        ({"object": {"image_url": "x"}, "scene": {"effect": "shadows", "model": "v3"}}, "scene.model"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "ab"}}, "scene.prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "x" * 2049}}, "scene.prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": {"text": "a table", "generate": True}}}, "scene.prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": {"text": "a table", "guidelines": "wood"}}},
         "scene.prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": {}}}, "scene.prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "a table", "steps": 50}}, "scene.steps"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "a table", "steps": 0}}, "scene.steps"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "a table", "negative_prompt": "no"}},
         "scene.negative_prompt"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "a table", "preference": "slow"}}, "scene.preference"),
        ({"object": {"image_url": "x"}, "scene": {"prompt": "a table", "view": "top"}}, "scene.view"),
        ({"object": {"image_url": "x"}, "scene": {"template_url": "x"}}, "scene.view"),
        ({"object": {"image_url": "x"}, "scene": {"template_url": "x", "view": "auto"}}, "scene.view"),
        ({"object": {"image_url": "x"}, "scene": {"template_url": "x", "view": "top", "template_mode": "keep"}},
         "scene.template_mode"),
        ({**VALID, "output": {"number_of_images": 0}}, "output.number_of_images"),
        ({**VALID, "output": {"number_of_images": 5}}, "output.number_of_images"),
        ({**VALID, "output": {"format": "gif"}}, "output.format"),
        ({**VALID, "output": {"format": {"type": "jpeg", "quality": 0}}}, "output.format.quality"),
        ({**VALID, "output": {"format": {"type": "jpeg", "quality": 101}}}, "output.format.quality"),
        ({**VALID, "output": {"format": {"type": "png", "compression": "max"}}}, "output.format.compression"),
        ({**VALID, "output": {"format": {"type": "webp", "compression": {"type": "lossy", "quality": 0}}}},
         "output.format.compression"),
        ({**VALID, "output": {"destination": ""}}, "output.destination"),
        ({**VALID, "output": ""}, "output"),
    ],
)
def test_invalid_requests_are_422_with_field_paths(client, auth, body, path):
    details = assert_error(client.post("/v1/scene/create", json=body, headers=auth), 422, "9000", "validation")[
        "error_details"
    ]
    assert any(key == path or key.startswith(path + ".") for key in details), details


def test_invalid_json_is_422(client, auth):
    response = client.post("/v1/scene/create", content=b"{not json", headers={**auth, "content-type":
                                                                                "application/json"})
    assert_error(response, 422, "9000")


def test_huge_body_is_refused(client, auth):
    response = client.post("/v1/scene/create", content=b"{" + b" " * 40_000_000 + b"}",
                           headers={**auth, "content-type": "application/json"})
    body = assert_error(response, 400, "2013")
    assert "33554432 bytes" in body["error_message"] and "PHOTOSTAGE_SERVER__MAX_BODY_BYTES" in body["error_message"]


def test_deep_json_is_refused(client, auth):
    response = client.post("/v1/scene/create", content=b"[" * 10000 + b"]" * 10000,
                           headers={**auth, "content-type": "application/json"})
    assert_error(response, 422, "9000")


def test_undecodable_image_is_400(client, auth):
    body = {"object": {"image_url": data_uri(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")},
            "scene": {"effect": "shadows"}}
    assert_error(client.post("/v1/scene/create", json=body, headers=auth), 400, "3010", "image")


def test_truncated_image_is_400(client, auth, product_uri):
    import base64

    data = base64.b64decode(product_uri.split(",", 1)[1])[:300]
    body = {"object": {"image_url": data_uri(data)}, "scene": {"effect": "shadows"}}
    assert_error(client.post("/v1/scene/create", json=body, headers=auth), 400, error_type="image")


def test_decompression_bomb_is_refused(client, auth):
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")
    body = {"object": {"image_url": data_uri(bomb)}, "scene": {"effect": "shadows"}}
    assert_error(client.post("/v1/scene/create", json=body, headers=auth), 400, "3012", "image")


def test_ssrf_to_loopback_is_refused_by_default(tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path / "d", rate_limit={"enabled": False}))
    secret, _ = app.state.services.keys.create("t")
    with TestClient(app) as client:
        body = {"object": {"image_url": "http://127.0.0.1:9/x.png"}, "scene": {"effect": "shadows"}}
        response = client.post("/v1/scene/create", json=body, headers={"Authorization": f"Bearer {secret}"})
    refusal = assert_error(response, 400, "3001", "image")
    assert "PHOTOSTAGE_SOURCES__ALLOW_HOSTS" in refusal["error_message"]  # says how an operator allows it


def test_unavailable_model_is_422(tmp_path, product_uri):
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path / "d", rate_limit={"enabled": False},
                        engines={"models": {"v1": {"engine": "studio"}, "v2": {"engine": "diffusion"}}})
    app = create_app(settings)
    secret, _ = app.state.services.keys.create("t")
    with TestClient(app) as client:
        body = {"object": {"image_url": product_uri}, "scene": {"prompt": "marble table", "model": "v2"}}
        response = client.post("/v1/scene/create", json=body, headers={"Authorization": f"Bearer {secret}"})
        assert_error(response, 422, "4001", "scene")
        body["scene"]["model"] = "v2-beta"
        assert_error(client.post("/v1/scene/create", json=body, headers={"Authorization": f"Bearer {secret}"}),
                     422, "4001")
        models = client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).json()["data"]
    assert {m["name"]: m["available"] for m in models} == {"v1": True, "v2": False}


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited_app(tmp_path, clock: FakeClock, per_minute: int = 120, per_second: int = 4):  # type: ignore[no-untyped-def]
    from photostage.api.ratelimit import build_rate_limiter

    settings = Settings(data_dir=tmp_path / "d", rate_limit={"per_minute": per_minute, "per_second": per_second})
    app = create_app(settings)
    app.state.rate_limiter = build_rate_limiter(settings, clock)
    secret, _ = app.state.services.keys.create("t")
    return app, {"Authorization": f"Bearer {secret}"}


def test_rate_limit_is_429_with_headers(tmp_path):
    from fastapi.testclient import TestClient

    clock = FakeClock()
    app, headers = limited_app(tmp_path, clock)
    with TestClient(app) as client:
        answers = [client.get("/v1/models", headers=headers) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
        assert answers[0].headers["RateLimit-Limit"] == "120, 120;w=60, 4;w=1"
        assert [int(a.headers["RateLimit-Remaining"]) for a in answers] == [3, 2, 1, 0, 0, 0]
        limited = answers[4]
        body = assert_error(limited, 429, "2001", "general")
        assert body["error_message"] == "Too Many Requests. Rate limit exceeded."
        assert limited.headers["Retry-After"] == "1" and limited.headers["RateLimit-Reset"] == "1"
        clock.now += 0.999
        assert client.get("/v1/models", headers=headers).status_code == 429
        clock.now += 0.001
        assert client.get("/v1/models", headers=headers).status_code == 200


def test_rate_limit_per_minute_window_counts_requests_not_time(tmp_path):
    """120 a minute at up to 4 a second: the 121st request inside the minute is refused until the
    first one leaves the window; the reset header says exactly when."""
    from fastapi.testclient import TestClient

    clock = FakeClock(0.0)
    app, headers = limited_app(tmp_path, clock, per_minute=5, per_second=4)
    with TestClient(app) as client:
        statuses = []
        for _ in range(6):
            statuses.append(client.get("/v1/models", headers=headers).status_code)
            clock.now += 10.0
        assert statuses == [200] * 5 + [429]
        clock.now = 59.5
        refused = client.get("/v1/models", headers=headers)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        clock.now = 60.0
        assert client.get("/v1/models", headers=headers).status_code == 200
        other_secret, _ = app.state.services.keys.create("other")
        other = client.get("/v1/models", headers={"Authorization": f"Bearer {other_secret}"})
        assert other.status_code == 200, "limits are per key"


def test_internal_error_is_500_in_contract_format(client, auth, app, product_uri, monkeypatch):
    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(app.state.services.runner, "run", explode)
    response = client.post("/v1/scene/create", json={"object": {"image_url": product_uri},
                                                      "scene": {"effect": "shadows"}}, headers=auth)
    body = assert_error(response, 500, "2500", "general")
    assert "secret" not in response.text and body["error_details"] == {}


def test_deadline_is_500(tmp_path, product_uri):
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path / "d", rate_limit={"enabled": False},
                              limits={"request_deadline_s": 0.000001}))
    secret, _ = app.state.services.keys.create("t")
    with TestClient(app) as client:
        response = client.post("/v1/scene/create", json={"object": {"image_url": product_uri},
                                                          "scene": {"effect": "shadows"}},
                               headers={"Authorization": f"Bearer {secret}"})
    assert_error(response, 500, "2010")


def test_overload_is_503_with_retry_after(client, auth, app, product_uri):
    capacity = app.state.services.capacity
    taken = 0
    while capacity.acquire(blocking=False):
        taken += 1
    try:
        response = client.post("/v1/scene/create", json={"object": {"image_url": product_uri},
                                                          "scene": {"effect": "shadows"}}, headers=auth)
    finally:
        for _ in range(taken):
            capacity.release()
    assert_error(response, 503, "2002")
    assert response.headers["Retry-After"]


def test_tmp_url_tampering_is_refused(client, auth, product_uri):
    body = {"object": {"image_url": product_uri}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1}}
    url = client.post("/v1/scene/create", json=body, headers=auth).json()["data"]["output"][0]["tmp_url"]
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    tampered = parts.query.replace("signature=", "signature=0")
    response = client.get(f"{parts.path}?{tampered}")
    assert response.status_code in (403, 404)
    assert response.json()["error_code"]


def test_credits_exhausted_is_402_and_failures_refund(client, app, auth, api_key, product_uri):
    credits = app.state.services.credits
    account_id = app.state.services.keys.list()[0].account_id
    credits.set(account_id, 3)
    body = {"object": {"image_url": product_uri}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 2, "format": "jpeg"}}
    assert client.post("/v1/scene/create", json=body, headers=auth).status_code == 200
    assert credits.left(account_id) == 1
    assert_error(client.post("/v1/scene/create", json=body, headers=auth), 402, "6001", "billing")
    broken = {**body, "object": {"image_url": "data:image/png;base64,AAAA"}, "output": {"number_of_images": 1}}
    assert client.post("/v1/scene/create", json=broken, headers=auth).status_code == 400
    assert credits.left(account_id) == 1


def test_overload_is_shed_at_the_door_before_the_body_is_parsed():
    """Past the in-flight limit the middleware answers 503 itself: the app (parsing, auth, the
    thread pool) never sees the request; other routes and methods are not gated."""
    import asyncio

    import httpx

    from photostage.api.middleware import RequestContextMiddleware

    released = asyncio.Event()
    seen: list[str] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["method"] + " " + scope["path"])
        if seen[-1] == "POST /v1/scene/create":
            await released.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = RequestContextMiddleware(inner, max_body_bytes=1 << 20, max_json_depth=32,
                                    gated_paths=frozenset({"/v1/scene/create"}), max_in_flight=2)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://t") as client:
            busy = [asyncio.create_task(client.post("/v1/scene/create", json={})) for _ in range(2)]
            while len(seen) < 2:
                await asyncio.sleep(0.01)
            refused = await client.post("/v1/scene/create", json={})
            assert_error(refused, 503, "2002", "general")
            assert refused.headers["retry-after"] == "2"
            assert (await client.post("/v1/scene/create/async", json={})).status_code == 200
            assert (await client.get("/v1/scene/create")).status_code == 200
            assert seen.count("POST /v1/scene/create") == 2
            released.set()
            assert [answer.status_code for answer in await asyncio.gather(*busy)] == [200, 200]
            assert (await client.post("/v1/scene/create", json={})).status_code == 200
            assert gate.in_flight == 0

    asyncio.run(scenario())
