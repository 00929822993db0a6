"""SSRF at the API level: every way of naming a loopback, private, link-local or metadata
address in ``object.image_url`` (and ``scene.template_url``, and async jobs, and redirects from
an allow-listed loopback server) is a 400 with code 3001, type image, and no connection made.

Names resolve through a stub injected into every source reader; the system resolver refuses
names outright, and ``socket.socket.connect`` records every connection and refuses any that is
not loopback, so a test sees exactly which connections were attempted.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.services import Services
from photostage.sources import SourceReader

from ..conftest import data_uri, make_product, png_bytes  # noqa: TID252

PRODUCT_PNG = png_bytes(make_product(60, 90))
PRODUCT_URI = data_uri(PRODUCT_PNG)

STUB_DNS: dict[str, list[str]] = {
    "internal.example": ["10.0.0.5"],
    "metadata.google.internal": ["169.254.169.254"],
    "localhost": ["127.0.0.1"],
    "v6-private.example": ["fd00::1"],
    "mapped.example": ["::ffff:169.254.169.254"],
    "rebind.example": ["93.184.216.34", "10.0.0.1"],  # one public, one private: refused as a whole
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
}


# ------------------------------------------------------------------------------ network record
@dataclass
class Network:
    connections: list[tuple[str, int]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    system_lookups: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.connections.clear()
        self.lookups.clear()


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    record = Network()
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            record.connections.append((str(address[0]), int(address[1])))
            if not ipaddress.ip_address(address[0]).is_loopback:
                record.blocked.append(repr(address))
                raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")
        real_connect(sock, address)

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,  # noqa: A002
                    flags: int = 0) -> list[Any]:
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            record.system_lookups.append(str(host))
            message = "test network guard: names do not resolve here"
            raise socket.gaierror(socket.EAI_NONAME, message) from None
        return real_getaddrinfo(host, port, family, type, proto, flags)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield record
    assert record.blocked == [], "a request tried to leave the machine"
    assert record.system_lookups == [], "a name reached the system resolver instead of the stub"


@pytest.fixture(autouse=True)
def fresh_record(network: Network) -> Iterator[None]:
    network.clear()
    yield
    assert network.blocked == []


def use_stub_resolver(services: Services, network: Network) -> None:
    """Replace every image-source reader (the sync runner's and the job runner's copy)."""

    def resolve(host: str, port: int) -> list[str]:
        network.lookups.append(host)
        name = host.lower().rstrip(".")  # as DNS does: the root label's dot, any case
        if name not in STUB_DNS:
            raise OSError(f"stub resolver: {host} does not resolve")
        return STUB_DNS[name]

    reader = SourceReader(services.reader.policy, resolver=resolve)
    services.reader = reader
    services.runner.reader = reader
    services.jobs.pipeline.reader = reader  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ loopback server
class Handler(BaseHTTPRequestHandler):
    """``/image.png`` serves a product; ``/redirect?to=<url>&status=<code>`` redirects there."""

    product = PRODUCT_PNG

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        """Keep test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/redirect":
            self.send_response(int(query.get("status", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.product)))
        self.end_headers()
        self.wfile.write(self.product)


@pytest.fixture(scope="module")
def loopback_server(network: Network) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------ the apps
@dataclass
class Api:
    app: FastAPI
    client: TestClient
    headers: dict[str, str]

    def create(self, image_url: str, template_url: str | None = None) -> Any:
        scene: dict[str, Any] = {"effect": "shadows"}
        if template_url is not None:
            scene = {"template_url": template_url, "view": "front", "template_mode": "lock"}
        body = {"object": {"image_url": image_url}, "scene": scene, "output": {"number_of_images": 1}}
        return self.client.post("/v1/scene/create", json=body, headers=self.headers)


def open_api(settings: Settings, network: Network) -> Iterator[Api]:
    app = create_app(settings)
    use_stub_resolver(app.state.services, network)
    secret, _ = app.state.services.keys.create("ssrf")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client, {"Authorization": f"Bearer {secret}"})


@pytest.fixture(scope="module")
def default_api(tmp_path_factory: pytest.TempPathFactory, network: Network) -> Iterator[Api]:
    """The default settings: nothing loopback or private is allowed."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ssrf") / "data", rate_limit={"enabled": False})
    yield from open_api(settings, network)


@pytest.fixture(scope="module")
def allow_listed_api(tmp_path_factory: pytest.TempPathFactory, network: Network) -> Iterator[Api]:
    """127.0.0.1 (only that address) is allow-listed, as for an asset server beside the service."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ssrf-allow") / "data",
                        rate_limit={"enabled": False}, sources={"allow_hosts": ["127.0.0.1"]})
    yield from open_api(settings, network)


def assert_forbidden(response: Any, field_name: str = "object.image_url") -> dict[str, Any]:
    """400, code 3001, type image, in the contract's body; the message filed under ``field_name``
    (an empty name: storage reads, which carry no field)."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_type", "error_message", "error_details"}
    assert (body["error_code"], body["error_type"]) == ("3001", "image"), body
    assert not field_name or field_name in body["error_details"], body
    return body


# ------------------------------------------------------------------------------ direct targets
FORBIDDEN_URLS = {
    "loopback": "http://127.0.0.1/x.png",
    "loopback-high": "http://127.255.255.254/x.png",
    "loopback-v6": "http://[::1]/x.png",
    "unspecified": "http://0.0.0.0/x.png",
    "unspecified-v6": "http://[::]/x.png",
    "private-10": "http://10.0.0.1/x.png",
    "private-172": "http://172.16.0.1/x.png",
    "private-192": "https://192.168.1.1:8443/x.png",
    "cgnat": "http://100.64.0.1/x.png",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "metadata-https": "https://169.254.169.254/computeMetadata/v1/",
    "link-local-v6": "http://[fe80::1]/x.png",
    "link-local-v6-zone": "http://[fe80::1%25eth0]/x.png",
    "ula-v6": "http://[fd00::1]/x.png",
    "aws-metadata-v6": "http://[fd00:ec2::254]/latest/meta-data/",
    "mapped-v4": "http://[::ffff:127.0.0.1]/x.png",
    "mapped-v4-hex": "http://[::ffff:a9fe:a9fe]/x.png",
    "compatible-v4": "http://[::127.0.0.1]/x.png",
    "nat64-metadata": "http://[64:ff9b::a9fe:a9fe]/x.png",
    "6to4-private": "http://[2002:a00:1::]/x.png",
    "decimal": "http://2130706433/x.png",
    "decimal-private": "http://3232235777/x.png",
    "octal": "http://0177.0.0.1/x.png",
    "octal-whole": "http://017700000001/x.png",
    "hex": "http://0x7f000001/x.png",
    "hex-dotted": "http://0xa9.0xfe.0xa9.0xfe/x.png",
    "short-form": "http://127.1/x.png",
    "mixed-form": "http://169.254.43518/x.png",
    "zero": "http://0/x.png",
    "upper-scheme": "HTTP://127.0.0.1/x.png",
    "trailing-dot-name": "http://localhost./x.png",
    "name-localhost": "http://localhost:8000/x.png",
    "name-private": "http://internal.example/x.png",
    "name-metadata": "http://metadata.google.internal/computeMetadata/v1/",
    "name-private-v6": "https://v6-private.example/x.png",
    "name-mapped": "http://mapped.example/x.png",
    "name-nat64": "http://nat64.example/x.png",
    "name-rebinding": "http://rebind.example/x.png",
}


@pytest.mark.parametrize("url", FORBIDDEN_URLS.values(), ids=FORBIDDEN_URLS.keys())
def test_forbidden_targets_are_refused_without_a_connection(
    default_api: Api, network: Network, url: str
) -> None:
    body = assert_forbidden(default_api.create(url))
    assert network.connections == []
    host = urlsplit(url).hostname or ""
    for address in STUB_DNS.get(host.rstrip("."), []):  # what a name resolved to is internal: never told
        assert address not in body["error_message"] and address not in str(body["error_details"])


def test_a_listening_loopback_server_is_still_refused(default_api: Api, network: Network,
                                                       loopback_server: int) -> None:
    assert_forbidden(default_api.create(f"http://127.0.0.1:{loopback_server}/image.png"))
    assert_forbidden(default_api.create(f"http://localhost:{loopback_server}/image.png"))
    assert network.connections == [] and network.lookups == ["localhost"]


def test_template_url_is_guarded_too(default_api: Api, network: Network, loopback_server: int) -> None:
    for template in ("http://169.254.169.254/t.png", "http://internal.example/t.png"):
        assert_forbidden(default_api.create(PRODUCT_URI, template_url=template), "scene.template_url")
    assert network.connections == []


def test_async_jobs_are_guarded_too(default_api: Api, network: Network) -> None:
    body = {"object": {"image_url": "http://internal.example/x.png"}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1}}
    accepted = default_api.client.post("/v1/scene/create/async", json=body, headers=default_api.headers)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["data"]["id"]
    for _ in range(12000):  # bounded by count, not by a clock (a busy machine only makes it slower)
        answer = default_api.client.get(f"/v1/scene/create/async/{job_id}", headers=default_api.headers)
        job = answer.json()["data"]
        if job["status"] in ("DONE", "ERROR"):
            break
        time.sleep(0.05)
    assert job["status"] == "ERROR" and job["error"]["error_code"] == "3001", job
    assert network.connections == [] and "internal.example" in network.lookups


def test_webhooks_refuse_private_literals(default_api: Api, network: Network) -> None:
    for url in ("http://169.254.169.254/hook", "http://[::ffff:10.0.0.1]/hook", "http://2130706433/hook"):
        webhook = default_api.client.put("/v1/webhooks", json={"url": url}, headers=default_api.headers)
        assert webhook.status_code == 422 and webhook.json()["error_code"] == "9000", webhook.text
    assert network.connections == []


def test_a_web_folder_on_a_metadata_address_cannot_be_used(default_api: Api, network: Network) -> None:
    """Storage endpoints are vetted when used (addresses change), with the same rules as inputs."""
    created = default_api.client.post(
        "/v1/storage/storages",
        json={"name": "meta", "type": "web_folder",
              "parameters": {"base_url": "http://169.254.169.254/latest/", "allow_write": True}},
        headers=default_api.headers,
    )
    assert created.status_code in (200, 400, 422), created.text
    if created.status_code != 200:
        assert created.json()["error_code"] in ("3001", "9000")
        return
    assert_forbidden(default_api.create("storage://meta/meta-data/x.png"), "")
    body = {"object": {"image_url": PRODUCT_URI}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "destination": "storage://meta/out.png"}}
    written = default_api.client.post("/v1/scene/create", json=body, headers=default_api.headers)
    assert written.status_code == 400 and written.json()["error_code"] == "3001", written.text
    assert network.connections == []


# ------------------------------------------------------------------------------ redirects
REDIRECT_TARGETS = {
    "private": "http://10.0.0.1/x.png",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "other-loopback": "http://127.0.0.2:{port}/image.png",
    "loopback-v6": "http://[::1]:{port}/image.png",
    "mapped-private": "http://[::ffff:10.0.0.1]/x.png",
    "ula-v6": "http://[fd00::1]/x.png",
    "decimal-private": "http://167772161/x.png",
    "hex-metadata": "http://0xa9fea9fe/x.png",
    "name-private": "http://internal.example/x.png",
    "name-metadata": "http://metadata.google.internal/computeMetadata/v1/",
}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", REDIRECT_TARGETS.values(), ids=REDIRECT_TARGETS.keys())
def test_redirects_from_an_allow_listed_server_to_private_hosts_are_refused(
    allow_listed_api: Api, network: Network, loopback_server: int, target: str, status: int
) -> None:
    location = target.format(port=loopback_server)
    url = f"http://127.0.0.1:{loopback_server}/redirect?status={status}&to={quote(location, safe='')}"
    assert_forbidden(allow_listed_api.create(url))
    assert network.connections == [("127.0.0.1", loopback_server)]  # the first hop only


def test_a_redirect_chain_that_ends_private_is_refused(allow_listed_api: Api, network: Network,
                                                       loopback_server: int) -> None:
    base = f"http://127.0.0.1:{loopback_server}"
    last = f"{base}/redirect?to={quote('http://169.254.169.254/', safe='')}"
    middle = f"{base}/redirect?to={quote(last, safe='')}&status=307"
    assert_forbidden(allow_listed_api.create(f"{base}/redirect?to={quote(middle, safe='')}"))
    assert network.connections == [("127.0.0.1", loopback_server)] * 3


def test_a_redirect_to_another_scheme_is_refused(allow_listed_api: Api, network: Network,
                                                 loopback_server: int) -> None:
    for location in ("file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://127.0.0.1/x"):
        url = f"http://127.0.0.1:{loopback_server}/redirect?to={quote(location, safe='')}"
        response = allow_listed_api.create(url)
        assert response.status_code == 400 and response.json()["error_code"] == "3004", response.text
    assert {address for address, _ in network.connections} == {"127.0.0.1"}


def test_the_allow_listed_server_itself_is_served(allow_listed_api: Api, network: Network,
                                                   loopback_server: int) -> None:
    """The control: the same server and redirect route do work when they stay allow-listed."""
    image = f"http://127.0.0.1:{loopback_server}/image.png"
    direct = allow_listed_api.create(image)
    redirect = f"http://127.0.0.1:{loopback_server}/redirect?to={quote(image, safe='')}"
    redirected = allow_listed_api.create(redirect)
    assert direct.status_code == 200 and redirected.status_code == 200, (direct.text, redirected.text)
    assert {address for address, _ in network.connections} == {"127.0.0.1"}
