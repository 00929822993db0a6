"""data: URIs and scheme dispatch; no network."""

from __future__ import annotations

import base64

import pytest

from photostage.contract.errors import (
    SOURCE_BAD_URL,
    SOURCE_FORBIDDEN,
    SOURCE_TOO_LARGE,
    ErrorKind,
    PhotostageError,
)
from photostage.sources import SourcePolicy, SourceReader

PAYLOAD = bytes(range(256)) * 4


def read(url: str, policy: SourcePolicy | None = None) -> bytes:
    return SourceReader(policy or SourcePolicy(max_bytes=4096)).read(url, field="object.image_url")


def refusal(url: str, policy: SourcePolicy | None = None) -> PhotostageError:
    with pytest.raises(PhotostageError) as caught:
        read(url, policy)
    return caught.value


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64," + base64.b64encode(PAYLOAD).decode(),
        "DATA:image/png;BASE64," + base64.b64encode(PAYLOAD).decode(),
        "data:;base64," + base64.b64encode(PAYLOAD).decode(),
        "data:image/png;name=x.png;base64," + base64.b64encode(PAYLOAD).decode(),
        "data:image/png;base64," + base64.b64encode(PAYLOAD).decode().rstrip("="),
        "data:image/png;base64," + "\n".join(base64.encodebytes(PAYLOAD).decode().split()),
        "data:image/png;base64," + base64.b64encode(PAYLOAD).decode().replace("+", "%2B").replace("/", "%2F"),
        "data:application/octet-stream," + "".join(f"%{byte:02X}" for byte in PAYLOAD),
    ],
)
def test_sources_data_uri_decodes(uri: str) -> None:
    assert read(uri) == PAYLOAD


def test_sources_data_uri_percent_encoded_text() -> None:
    assert read("data:,hello%20world") == b"hello world"
    assert read("data:text/plain;charset=utf-8,caf%C3%A9") == "café".encode()


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64",  # no comma
        "data:image/png;base64,!!!notbase64!!!",
        "data:image/png;base64,QUJD=A",
        "data:image/png;base64,QUJDR",  # impossible length
        "data:image/png;base64,",  # no data
        "data:image png;base64,QUJD",
        "data:image/png;charset;base64,QUJD",
        "data:",
        "data:,%41\ud800",
        "data:;base64,%3D\ud800",
    ],
)
def test_sources_malformed_data_uri(uri: str) -> None:
    error = refusal(uri)
    assert error.kind == SOURCE_BAD_URL
    assert error.details == {"object.image_url": [error.public_message]}


def test_sources_data_uri_over_cap() -> None:
    policy = SourcePolicy(max_bytes=1000)
    assert read("data:;base64," + base64.b64encode(PAYLOAD[:1000]).decode(), policy) == PAYLOAD[:1000]
    just_over = "data:;base64," + base64.b64encode(PAYLOAD[:1001]).decode()
    assert refusal(just_over, policy).kind == SOURCE_TOO_LARGE
    assert refusal("data:," + "a" * 1001, policy).kind == SOURCE_TOO_LARGE
    assert refusal("data:;base64," + "A" * 10_000_000, policy).kind == SOURCE_TOO_LARGE


def test_sources_data_uri_refused_when_disabled() -> None:
    error = refusal("data:,abc", SourcePolicy(allow_data_uris=False))
    assert error.kind == SOURCE_FORBIDDEN


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com:70/_x",
        "javascript:alert(1)",
        "dict://127.0.0.1:11211/",
        "/etc/passwd",
        "example.com/a.png",
        "",
    ],
)
def test_sources_unknown_schemes_refused(url: str) -> None:
    error = refusal(url)
    assert error.kind == SOURCE_BAD_URL
    assert error.details == {"object.image_url": [error.public_message]}


def test_sources_storage_urls_go_to_the_storage_callback() -> None:
    seen: list[str] = []

    def read_storage(url: str) -> bytes:
        seen.append(url)
        return b"stored"

    reader = SourceReader(SourcePolicy(), read_storage=read_storage)
    assert reader.read("storage://local/a/b.png") == b"stored"
    assert seen == ["storage://local/a/b.png"]


def test_sources_storage_errors_pass_through_and_missing_callback_refuses() -> None:
    failure = PhotostageError(ErrorKind("5003", "storage", 404, "No object."))

    def read_storage(url: str) -> bytes:
        raise failure

    with pytest.raises(PhotostageError) as caught:
        SourceReader(SourcePolicy(), read_storage=read_storage).read("storage://local/x.png")
    assert caught.value is failure
    assert refusal("storage://local/x.png").kind == SOURCE_BAD_URL
