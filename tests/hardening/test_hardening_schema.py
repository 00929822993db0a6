"""Schemathesis against photostage's own OpenAPI document, in process, with a real API key.

Over a thousand generated requests go to ``POST /v1/scene/create`` (schema-valid ones, part of
them with their image URL swapped for a hostile one, and schema-invalid ones), and a few dozen to
every other operation. Every answer must be documented: no 5xx, a documented status code, a body
that conforms to the documented schema, schema-invalid input refused with a 4xx.

Nothing leaves the machine: the source reader resolves names through a stub (every name is
private or unresolvable), ``socket.getaddrinfo`` refuses names for everything else (webhooks,
storage endpoints), and ``socket.socket.connect`` fails the test for any non-loopback target.
Generation is derandomized, so a run is reproducible and the same on every machine.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import socket
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.services import Services
from photostage.sources import SourceReader

SCENE_CREATE = ("/v1/scene/create", "POST")
SCENE_POSITIVE_EXAMPLES = 700
SCENE_NEGATIVE_EXAMPLES = 400
OTHER_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------ network guard
@dataclass
class NetworkRecord:
    """Connections the guard blocked (a test failure) and names it refused to resolve (not one:
    refusing is how a name is kept from reaching a real resolver)."""

    blocked_connections: list[str] = field(default_factory=list)
    refused_names: Counter[str] = field(default_factory=Counter)


def is_loopback_target(family: int, address: Any) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets and the like never leave the machine
    try:
        return ipaddress.ip_address(str(address[0]).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def is_ip_literal(host: object) -> bool:
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def network() -> Iterator[NetworkRecord]:
    record = NetworkRecord()
    real_connect, real_connect_ex, real_getaddrinfo = (
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    )

    def vet(sock: socket.socket, address: Any) -> None:
        if not is_loopback_target(sock.family, address):
            record.blocked_connections.append(repr(address))
            raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")

    def connect(sock: socket.socket, address: Any) -> None:
        vet(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        vet(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,  # noqa: A002
                    flags: int = 0) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name == "localhost" or is_ip_literal(name):
            return real_getaddrinfo(host, port, family, type, proto, flags)
        record.refused_names[str(name)] += 1
        raise socket.gaierror(socket.EAI_NONAME, "test network guard: names do not resolve here")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield record
    assert record.blocked_connections == [], "a request tried to leave the machine"


def stub_resolver(host: str, port: int) -> list[str]:
    """Every name is private (v4 or v6), link-local, or does not resolve: never a public address."""
    choice = zlib.crc32(host.encode("utf-8", "surrogatepass")) % 4
    if choice == 3:
        raise OSError(f"stub resolver: {host} does not resolve")
    return [("10.1.2.3", "fd00::7", "169.254.169.254")[choice]]


def use_resolver(services: Services, resolver: Callable[[str, int], list[str]]) -> None:
    """Every reader of image sources (the sync runner's and the job runner's copy) resolves here."""
    reader = SourceReader(services.reader.policy, resolver=resolver)
    services.reader = reader
    services.runner.reader = reader
    services.jobs.pipeline.reader = reader  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ the app
def tiny_product_uri() -> str:
    """A data: URI short enough to stay schema-valid (≤ 4096 characters): a smooth bottle shape."""
    yy, xx = np.mgrid[0:48, 0:32]
    alpha = ((((xx - 16) / 12) ** 2 + ((yy - 26) / 20) ** 2) <= 1).astype(np.uint8) * 255
    rgb = np.dstack([np.full_like(alpha, 40), 90 + yy.astype(np.uint8), np.full_like(alpha, 200)])
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").save(buffer, "PNG", optimize=True)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert len(uri) <= 4096
    return uri


HOSTILE_URLS = (
    "http://127.0.0.1/x.png", "http://127.1/x.png", "http://2130706433/x.png", "http://0177.0.0.1/x.png",
    "http://0x7f.0.0.1/x.png", "http://0/x.png", "http://[::1]/x.png", "http://[::ffff:127.0.0.1]/x.png",
    "http://[::ffff:7f00:1]/x.png", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.png",
    "http://192.168.1.1:8080/x.png", "http://[fe80::1%25eth0]/x.png", "http://[fd00::1]/x.png",
    "http://[64:ff9b::a00:1]/x.png", "http://100.64.0.1/x.png", "https://metadata.google.internal/x",
    "http://localhost:8000/healthz", "http://user:pw@127.0.0.1/x.png", "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO", "ftp://127.0.0.1/x.png", "javascript:alert(1)", "data:,",
    "data:image/png;base64,", "data:image/png;base64,iVBORw0KGgo=",
    "data:text/html,<script>alert(1)</script>", "storage://local/missing.png",
    "storage://local/../secrets/tmp-signing-key", "storage://nope/x.png", "storage://local/ü/ñ.png",
    "storage://local/a\u0000b.png", "http://exa\u0000mple.com/x.png", "http://\u0430pple.com/x.png",
)


@dataclass
class FuzzTarget:
    app: FastAPI
    client: TestClient
    headers: dict[str, str]
    schema: Any
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    data_dir: Path = tmp_path_factory.mktemp("schema") / "data"
    app = create_app(Settings(data_dir=data_dir, rate_limit={"enabled": False}, limits={"workers": 2}))
    use_resolver(app.state.services, stub_resolver)
    secret, _ = app.state.services.keys.create("fuzz")
    schema = schemathesis.openapi.from_dict(app.openapi())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield FuzzTarget(app, client, {"Authorization": f"Bearer {secret}"}, schema)


def send(target: FuzzTarget, case: Any) -> Any:
    """Send a generated case through the in-process client and check the answer. A generated
    ``Authorization`` header gets the real key; a case without one (a negative case that drops
    it) goes without, and must be refused."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    generated = kwargs.get("headers", {})
    headers = {name: value for name, value in generated.items() if name.lower() != "authorization"}
    if any(name.lower() == "authorization" for name in generated):
        headers.update(target.headers)
    request: dict[str, Any] = {"headers": headers, "params": kwargs.get("params")}
    if kwargs.get("cookies"):
        target.client.cookies = kwargs["cookies"]
    else:
        target.client.cookies.clear()
    for body_key in ("json", "content", "data", "files"):
        if body_key in kwargs:
            raw = body_key == "data" and isinstance(kwargs[body_key], (bytes, str))
            request["content" if raw else body_key] = kwargs[body_key]  # raw bytes travel as content
    response = target.client.request(kwargs["method"], kwargs["url"], **request)
    target.statuses[(case.operation.label, response.status_code)] += 1
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code >= 400 and is_json:
        target.error_codes[str(response.json().get("error_code"))] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


def with_hostile_url(case: Any, url: str | None) -> Any:
    """Swap the object's image URL for a hostile one (``None`` keeps the generated URL)."""
    body = case.body
    if url is not None and isinstance(body, dict) and isinstance(body.get("object"), dict):
        body["object"]["image_url"] = url
    return case


def run_examples(strategy: st.SearchStrategy[Any], examples: int, check: Callable[[Any], None]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        check(case)

    run()


# ------------------------------------------------------------------------------ tests
def test_scene_create_fuzz(target: FuzzTarget, network: NetworkRecord) -> None:
    operation = target.schema[SCENE_CREATE[0]][SCENE_CREATE[1]]
    urls = st.one_of(st.none(), st.sampled_from(HOSTILE_URLS), st.just(tiny_product_uri()))
    positive = st.builds(with_hostile_url, operation.as_strategy(GenerationMode.POSITIVE), urls)
    negative = operation.as_strategy(GenerationMode.NEGATIVE)
    started = time.perf_counter()
    run_examples(positive, SCENE_POSITIVE_EXAMPLES, lambda case: send(target, case))
    run_examples(negative, SCENE_NEGATIVE_EXAMPLES, lambda case: send(target, case))
    elapsed = time.perf_counter() - started
    label = "POST /v1/scene/create"
    answers = {status: count for (operation, status), count in target.statuses.items() if operation == label}
    print(f"\n{label}: {sum(answers.values())} requests in {elapsed:.1f} s, statuses {answers}, "
          f"error codes {dict(target.error_codes.most_common())}, "
          f"names refused by the system resolver guard {sum(network.refused_names.values())}")
    assert sum(answers.values()) >= 1000
    assert target.error_codes["3001"] > 0, "no hostile URL reached the SSRF guard"
    assert answers.get(200, 0) > 0, "no generated request made it through the pipeline"
    assert max(answers) < 500


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_other_operation_fuzz(target: FuzzTarget, mode: GenerationMode) -> None:
    operations = [
        result.ok() for result in target.schema.get_all_operations()
        if (result.ok().path, result.ok().method.upper()) != SCENE_CREATE
    ]
    assert len(operations) >= 10
    for operation in operations:
        try:
            run_examples(operation.as_strategy(mode), OTHER_EXAMPLES, lambda case: send(target, case))
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to negate (no inputs)
    assert max(status for _, status in target.statuses) < 500
    assert target.client.get("/healthz").status_code == 200
