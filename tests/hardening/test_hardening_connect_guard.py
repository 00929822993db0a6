"""Every outbound connection made for a user goes through the connect-time address guard: image
and template fetches, webhooks, web folders, S3 endpoints (s3fs/aiobotocore/aiohttp), GCS
(gcsfs's aiohttp session, the HMAC route through s3fs) and google-auth's token requests.

Each path is aimed at a loopback canary (a TCP server that counts every connection accepted)
through the name ``rebind.test``, whose DNS answer changes between the check and the connection:
the stubbed resolver (``socket.getaddrinfo``, which the system resolver of the guard and every
third-party stack use) answers a public address the first time and the canary's loopback address
every time after. A guard that resolves once and connects to what it vetted refuses; a stack that
resolves again on its own reaches the canary. The canary must count zero connections, and the
answer must say the guard refused (never a 5xx).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.contract.errors import SOURCE_FORBIDDEN, STORAGE_FORBIDDEN, PhotostageError
from photostage.sources.addresses import AllowList
from photostage.sources.guard import AddressGate, system_resolver
from photostage.sources.policy import SourcePolicy
from photostage.sources.reader import SourceReader
from photostage.storage.base import strict_gate
from photostage.storage.web import WebFolderConnector
from photostage.webhooks.delivery import GuardedPoster

from ..conftest import data_uri, make_product, png_bytes  # noqa: TID252

REBIND = "rebind.test"
PUBLIC = "8.8.8.8"
PRODUCT_URI = data_uri(png_bytes(make_product(60, 90)))


@dataclass
class Canary:
    """A loopback TCP server that counts connections and answers nothing useful."""

    listener: socket.socket
    accepted: list[tuple[str, int]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                connection, peer = self.listener.accept()
            except OSError:
                return
            self.accepted.append(peer)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            connection.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    found = Canary(listener)
    thread = threading.Thread(target=found.serve, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        listener.close()
        thread.join(timeout=10)


@dataclass
class RebindingDns:
    """``socket.getaddrinfo`` for ``rebind.test``: a public address at the first lookup (the
    check), the canary's loopback address at every later one (a second lookup at connect)."""

    lookups: int = 0

    def answer(self) -> str:
        self.lookups += 1
        return PUBLIC if self.lookups == 1 else "127.0.0.1"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> RebindingDns:
    stub = RebindingDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != REBIND:
            return real(host, port, *args, **kwargs)
        number = int(port) if port not in (None, "", b"") else 0
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (stub.answer(), number))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return stub


def strict() -> AddressGate:
    """The gate of a server with nothing allow-listed (the default)."""
    return AddressGate(allow_list=AllowList.parse(()), resolver=system_resolver)


def checked(dns: RebindingDns, port: int) -> None:
    """The check before the connection: the first lookup, which sees the public address."""
    assert strict().vetted_addresses(REBIND, port)[0].exploded == PUBLIC
    assert dns.lookups == 1


def assert_refused_by_the_guard(error: BaseException) -> None:
    assert isinstance(error, PhotostageError), repr(error)
    assert error.kind in (STORAGE_FORBIDDEN, SOURCE_FORBIDDEN), error.body()
    assert error.status < 500 and "loopback, private or reserved" in error.public_message


# --- each path, at the connector --------------------------------------------------------------


def test_image_fetch(canary: Canary, dns: RebindingDns) -> None:
    reader = SourceReader(SourcePolicy(timeout_s=30))
    url = f"http://{REBIND}:{canary.port}/product.png"
    reader.check_endpoint(url)
    with pytest.raises(PhotostageError) as caught:
        reader.read(url, field="object.image_url")
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


def test_webhook(canary: Canary, dns: RebindingDns) -> None:
    checked(dns, canary.port)
    outcome = GuardedPoster(SourcePolicy(timeout_s=30), 30.0).post(f"http://{REBIND}:{canary.port}/hook", b"{}", {})
    assert outcome.status_code is None and "loopback, private or reserved" in (outcome.error or "")
    assert canary.accepted == []


def test_http_destination_upload(canary: Canary, dns: RebindingDns) -> None:
    import httpx

    from photostage.sources.http_put import HttpPutter

    putter = HttpPutter(SourcePolicy(timeout_s=30), strict(), httpx.create_ssl_context())
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        putter.put(f"http://{REBIND}:{canary.port}/upload.png?X-Amz-Signature=s", b"x", "image/png")
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


@pytest.mark.parametrize("operation", ["read", "write", "exists", "delete"])
def test_web_folder(canary: Canary, dns: RebindingDns, operation: str) -> None:
    connector = WebFolderConnector("cdn", f"http://{REBIND}:{canary.port}/folder/", allow_write=True)
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        run(connector, operation)
    assert_refused_by_the_guard(caught.value)
    assert caught.value.kind is STORAGE_FORBIDDEN
    assert canary.accepted == []


@pytest.mark.parametrize("operation", ["read", "write", "exists", "delete"])
def test_s3_endpoint(canary: Canary, dns: RebindingDns, operation: str) -> None:
    pytest.importorskip("s3fs")
    from photostage.storage.cloud import S3Connector

    connector = S3Connector("shots", "bucket", region="us-east-1", endpoint_url=f"http://{REBIND}:{canary.port}",
                            key="AKIAEXAMPLE", secret="s" * 40)
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        run(connector, operation)
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


def test_s3_ip_literal_endpoint_is_checked_at_connect_too(canary: Canary) -> None:
    """aiohttp does not resolve IP literals: the socket factory checks them."""
    pytest.importorskip("s3fs")
    from photostage.storage.cloud import S3Connector

    connector = S3Connector("shots", "bucket", region="us-east-1", endpoint_url=f"http://127.0.0.1:{canary.port}")
    with pytest.raises(PhotostageError) as caught:
        connector.write("a.png", b"x", "image/png")
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


def test_gcs_hmac_route(canary: Canary, dns: RebindingDns) -> None:
    pytest.importorskip("s3fs")
    from photostage.storage.cloud import GCSConnector

    connector = GCSConnector("gcs", "bucket", access_key="GOOG1EXAMPLE", secret_access_key="s" * 40,
                             endpoint_url=f"http://{REBIND}:{canary.port}")
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        connector.write("a.png", b"x", "image/png")
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


@pytest.mark.parametrize("operation", ["read", "write"])
def test_gcs_json_api(canary: Canary, dns: RebindingDns, operation: str) -> None:
    pytest.importorskip("gcsfs")
    from photostage.storage.cloud import GCSConnector

    connector = GCSConnector("gcs", "bucket", endpoint_url=f"http://{REBIND}:{canary.port}")
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        run(connector, operation)
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


def service_account(token_uri: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "demo", "client_email": "w@demo.iam.gserviceaccount.com",
            "private_key": pem, "private_key_id": "1", "token_uri": token_uri}


def test_google_auth_token_request(canary: Canary, dns: RebindingDns) -> None:
    """A key file's token_uri is pinned to Google's when a storage is made through the API; built
    directly with another one, the token request still cannot pass the guard."""
    pytest.importorskip("gcsfs")
    from photostage.storage.cloud import GCSConnector

    info = service_account(f"http://{REBIND}:{canary.port}/token")
    connector = GCSConnector("gcs", "bucket", service_account_info=info,
                             endpoint_url=f"http://{REBIND}:{canary.port}")
    checked(dns, canary.port)
    with pytest.raises(PhotostageError) as caught:
        connector.read("a.png", 1000)
    assert_refused_by_the_guard(caught.value)
    assert canary.accepted == []


def test_guarded_requests_session_resolves_once_and_connects_to_the_vetted_address(canary: Canary) -> None:
    """The adapter connects to the address the gate vetted, never resolving again: with the
    canary allow-listed, a request to the name reaches it, after exactly one lookup."""
    from photostage.sources.stacks import guarded_requests_session

    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    gate = AddressGate(allow_list=AllowList.parse(("127.0.0.1",)), resolver=resolver)
    with guarded_requests_session(gate) as session:
        response = session.get(f"http://{REBIND}:{canary.port}/x", timeout=30)
    assert response.status_code == 200 and lookups == [REBIND] and len(canary.accepted) == 1


def run(connector: Any, operation: str) -> Any:
    if operation == "read":
        return connector.read("a.png", 1000)
    if operation == "write":
        return connector.write("a.png", b"x", "image/png")
    if operation == "exists":
        return connector.exists("a.png")
    return connector.delete("a.png")


# --- the same through the API, sync and async ---------------------------------------------------


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[TestClient, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """The real app with nothing allow-listed (the default): loopback is forbidden."""
    app = create_app(Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False}))
    secret, _ = app.state.services.keys.create("attacker")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {secret}"}


def storage_body(kind: str, port: int) -> dict[str, Any]:
    endpoint = f"http://{REBIND}:{port}"
    if kind == "s3":
        return {"name": "mine", "type": "s3", "parameters": {
            "bucket": "b", "endpoint_url": endpoint, "region": "us-east-1",
            "credentials": {"access_key": "AKIAEXAMPLE", "secret_access_key": "s" * 40}}}
    return {"name": "mine", "type": "web_folder", "parameters": {"base_url": f"{endpoint}/f/", "allow_write": True}}


@pytest.mark.parametrize("kind", ["s3", "web_folder"])
@pytest.mark.parametrize("direction", ["input", "output"])
def test_storage_endpoints_through_the_api(api, canary: Canary, dns: RebindingDns, kind: str, direction: str) -> None:  # type: ignore[no-untyped-def]
    """The storage API checks the endpoint when the storage is used (the first lookup, public),
    then the connector connects: the second lookup answers loopback and the guard refuses."""
    if kind == "s3":
        pytest.importorskip("s3fs")
    client, auth = api
    assert client.post("/v1/storage/storages", json=storage_body(kind, canary.port), headers=auth).status_code == 200
    body: dict[str, Any] = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"},
                            "output": {"number_of_images": 1, "format": "jpeg"}}
    if direction == "input":
        body["object"]["image_url"] = "storage://mine/in.png"
    else:
        body["output"]["destination"] = "storage://mine/out/"
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == STORAGE_FORBIDDEN.code
    assert dns.lookups >= 2 and canary.accepted == []


def test_an_http_destination_through_the_api(api, canary: Canary, dns: RebindingDns) -> None:  # type: ignore[no-untyped-def]
    client, auth = api
    checked(dns, canary.port)
    body = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "format": "jpeg", "destination": f"http://{REBIND}:{canary.port}/r.jpeg"}}
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert 400 <= response.status_code < 500, response.text
    assert "loopback, private or reserved" in response.text
    assert canary.accepted == []


@pytest.mark.parametrize("field", ["object.image_url", "scene.template_url"])
def test_image_and_template_downloads_through_the_api(api, canary: Canary, dns: RebindingDns, field: str) -> None:  # type: ignore[no-untyped-def]
    """The request's URLs, checked earlier (the public answer), then fetched: the fetch's own
    lookup answers loopback and the guard refuses it."""
    client, auth = api
    checked(dns, canary.port)
    url = f"http://{REBIND}:{canary.port}/picture.png"
    body: dict[str, Any] = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"},
                            "output": {"number_of_images": 1, "format": "jpeg"}}
    if field == "object.image_url":
        body["object"]["image_url"] = url
    else:
        body["scene"] = {"template_url": url, "view": "front", "template_mode": "lock"}
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == SOURCE_FORBIDDEN.code and field in response.text
    assert canary.accepted == []


def test_the_webhook_of_an_async_job_reaches_nothing(api, canary: Canary, dns: RebindingDns) -> None:  # type: ignore[no-untyped-def]
    """The key's webhook URL names the rebinding host; the job is DONE, its delivery is refused
    by the guard at connect time (recorded on the delivery), and the canary counts nothing."""
    client, auth = api
    configured = client.put("/v1/webhooks", json={"url": f"http://{REBIND}:{canary.port}/hook"}, headers=auth)
    assert configured.status_code == 200, configured.text
    checked(dns, canary.port)
    body = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"}, "output": {"number_of_images": 1}}
    accepted = client.post("/v1/scene/create/async", json=body, headers=auth)
    assert accepted.status_code == 202, accepted.text
    url = f"/v1/scene/create/async/{accepted.json()['data']['id']}/webhooks"
    deliveries: list[dict[str, Any]] = []
    for _ in range(12000):  # bounded by count, not by a clock
        deliveries = client.get(url, headers=auth).json()["data"]
        if deliveries and deliveries[0]["attempts"] >= 1:
            break
        time.sleep(0.05)
    assert deliveries and deliveries[0]["attempts"] >= 1, deliveries
    assert deliveries[0]["status"] != "DELIVERED" and deliveries[0]["last_status_code"] is None
    assert "loopback, private or reserved" in (deliveries[0]["last_error"] or "")
    assert dns.lookups >= 2 and canary.accepted == []


def test_an_async_job_writing_to_a_rebinding_storage_ends_error_and_sends_nothing(  # type: ignore[no-untyped-def]
    api, canary: Canary, dns: RebindingDns
) -> None:
    pytest.importorskip("s3fs")
    client, auth = api
    assert client.post("/v1/storage/storages", json=storage_body("s3", canary.port), headers=auth).status_code == 200
    body = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "destination": "storage://mine/out/"}}
    accepted = client.post("/v1/scene/create/async", json=body, headers=auth)
    assert accepted.status_code == 202, accepted.text
    url = f"/v1/scene/create/async/{accepted.json()['data']['id']}"
    job = client.get(url, headers=auth).json()["data"]
    for _ in range(6000):  # bounded by count
        if job["status"] in ("DONE", "ERROR"):
            break
        time.sleep(0.05)
        job = client.get(url, headers=auth).json()["data"]
    assert job["status"] == "ERROR" and job["error"]["error_code"] == STORAGE_FORBIDDEN.code
    assert canary.accepted == []


def test_a_forbidden_ip_literal_endpoint_is_refused_when_the_storage_is_made(api, canary: Canary) -> None:  # type: ignore[no-untyped-def]
    client, auth = api
    for body in (storage_body("s3", canary.port), storage_body("web_folder", canary.port)):
        text = str(body).replace(REBIND, "127.0.0.1")
        import ast

        literal = ast.literal_eval(text)
        response = client.post("/v1/storage/storages", json=literal, headers=auth)
        assert response.status_code == 422, response.text
        assert "loopback, private or reserved" in str(response.json()["error_details"])
    assert canary.accepted == []


def test_the_strict_gate_is_the_default_of_every_connector() -> None:
    assert strict().allow_list == strict_gate().allow_list
