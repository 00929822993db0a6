"""One conformance suite, run against every connector kind on real (loopback) servers:
local files, S3 (moto server), GCS (gcp-storage-emulator, when installed) and a web folder
(a tiny GET/PUT/DELETE HTTP server). Each test works under a fresh prefix."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from photostage.contract.errors import (
    SOURCE_TOO_LARGE,
    STORAGE_BAD_PATH,
    STORAGE_OBJECT_MISSING,
    STORAGE_WRITE_FAILED,
    PhotostageError,
)
from photostage.storage.base import Connector, StoredObject
from photostage.storage.cloud import GCS_XML_ENDPOINT, GCSConnector, S3Connector
from photostage.storage.local import LocalConnector
from photostage.storage.web import WebFolderConnector

from ..conftest import loopback_gate, moto_s3  # noqa: TID252

BACKENDS = ["local", "s3", "gcs", "web"]
S3_BUCKET = "conformance"
GCS_BUCKET = "conformance-gcs"
SECRET = "TOP-SECRET-do-not-leak-0123456789"
BAD_PATHS = [
    "../escape.png",
    "a/../../escape.png",
    "/etc/passwd",
    "a\\b.png",
    "a\x00b.png",
    "a\x1fb.png",
    "a//b.png",
    "a/./b.png",
    "folder/",
    "",
    "x" * 1025,
    "é" * 513,
]


@dataclass
class Backend:
    connector: Connector
    bucket: str
    key_prefix: str
    object_uri: Callable[[str], str]
    raw_read: Callable[[str], bytes | None]
    list_keys: Callable[[], list[str]]
    content_type: Callable[[str], str | None]
    break_writes: Callable[[pytest.MonkeyPatch], None]


# --- servers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3(S3_BUCKET, SECRET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    server = emulator.create_server("127.0.0.1", 0, in_memory=True, default_bucket=GCS_BUCKET)
    server.start()  # port 0: the kernel's pick, held from the start (no race with a suite beside)
    port = server._api._httpd.server_address[1]
    # The emulator prints a traceback whenever a client drops a kept-alive connection; quiet it.
    httpd = getattr(getattr(server, "_api", None), "_httpd", None)
    if httpd is not None:
        httpd.handle_error = lambda request, client_address: None
    yield f"http://127.0.0.1:{port}"
    server.stop()


class WebFolderState:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.fail_puts = False
        self.lock = threading.Lock()


def make_handler(state: WebFolderState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def _key(self) -> str:
            return unquote(self.path.partition("?")[0]).lstrip("/")

        def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            with state.lock:
                found = state.objects.get(self._key())
            if found is None:
                self._reply(404, b"missing")
            else:
                self._reply(200, found[0], found[1])

        do_HEAD = do_GET  # noqa: N815

        def do_PUT(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if state.fail_puts:
                self._reply(500, b"disk full")
                return
            with state.lock:
                state.objects[self._key()] = (body, self.headers.get("content-type", ""))
            self._reply(201)

        def do_DELETE(self) -> None:  # noqa: N802
            with state.lock:
                found = state.objects.pop(self._key(), None)
            self._reply(404 if found is None else 204)

    return Handler


@pytest.fixture(scope="module")
def web_server() -> Iterator[tuple[str, WebFolderState]]:
    state = WebFolderState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    server.server_close()


# --- backends ------------------------------------------------------------------------------------


def local_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "bucket-root"
    connector = LocalConnector("disk", root)

    def raw_read(key: str) -> bytes | None:
        target = root / key
        return target.read_bytes() if target.is_file() else None

    def keys() -> list[str]:
        return (
            sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
        )

    def break_writes(monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse_rename(source: object, target: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", refuse_rename)

    return Backend(
        connector=connector,
        bucket="bucket-root",
        key_prefix="",
        object_uri=lambda key: (root / key).absolute().as_uri(),
        raw_read=raw_read,
        list_keys=keys,
        content_type=lambda key: None,
        break_writes=break_writes,
    )


def failing_pipe(connector: S3Connector | GCSConnector) -> Callable[[pytest.MonkeyPatch], None]:
    """Remote writes are one PUT; a PUT that dies on the wire is simulated at the library edge."""

    def break_writes(monkeypatch: pytest.MonkeyPatch) -> None:
        def dead_connection(path: str, data: bytes, **kwargs: object) -> None:
            raise ConnectionResetError(104, "Connection reset by peer")

        monkeypatch.setattr(connector.filesystem, "pipe_file", dead_connection)

    return break_writes


def s3_backend(endpoint: str, prefix: str) -> Backend:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    connector = S3Connector(
        "shop-s3",
        S3_BUCKET,
        prefix=prefix,
        region="us-east-1",
        endpoint_url=endpoint,
        key="test",
        secret=SECRET,
        gate=loopback_gate(),
    )

    def raw_read(key: str) -> bytes | None:
        try:
            return bytes(client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    def keys() -> list[str]:
        listing = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix + "/")
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return Backend(
        connector=connector,
        bucket=S3_BUCKET,
        key_prefix=prefix,
        object_uri=lambda key: f"s3://{S3_BUCKET}/{key}",
        raw_read=raw_read,
        list_keys=keys,
        content_type=lambda key: client.head_object(Bucket=S3_BUCKET, Key=key)["ContentType"],
        break_writes=failing_pipe(connector),
    )


def gcs_backend(endpoint: str, prefix: str) -> Backend:
    from gcsfs.core import GCSFileSystem

    raw = GCSFileSystem(
        token="anon", endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False
    )
    connector = GCSConnector("shop-gcs", GCS_BUCKET, prefix=prefix, endpoint_url=endpoint, gate=loopback_gate())

    def raw_read(key: str) -> bytes | None:
        try:
            return bytes(raw.cat_file(f"{GCS_BUCKET}/{key}"))
        except FileNotFoundError:
            return None

    def keys() -> list[str]:
        found = raw.find(f"{GCS_BUCKET}/{prefix}/")
        return sorted(path.removeprefix(f"{GCS_BUCKET}/") for path in found)

    return Backend(
        connector=connector,
        bucket=GCS_BUCKET,
        key_prefix=prefix,
        object_uri=lambda key: f"gs://{GCS_BUCKET}/{key}",
        raw_read=raw_read,
        list_keys=keys,
        content_type=lambda key: raw.info(f"{GCS_BUCKET}/{key}").get("contentType"),
        break_writes=failing_pipe(connector),
    )


def web_backend(server: tuple[str, WebFolderState], prefix: str) -> Backend:
    origin, state = server
    connector = WebFolderConnector("shop-web", f"{origin}/{prefix}/", allow_write=True, gate=loopback_gate())

    def keys() -> list[str]:
        with state.lock:
            return sorted(key for key in state.objects if key.startswith(prefix + "/"))

    def break_writes(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(state, "fail_puts", True)

    return Backend(
        connector=connector,
        bucket=origin.removeprefix("http://"),
        key_prefix=prefix,
        object_uri=lambda key: f"{origin}/{key}",
        raw_read=lambda key: state.objects.get(key, (None, ""))[0],
        list_keys=keys,
        content_type=lambda key: state.objects[key][1],
        break_writes=break_writes,
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    prefix = f"run-{uuid.uuid4().hex[:10]}/in put"
    if request.param == "local":
        return local_backend(tmp_path)
    if request.param == "s3":
        return s3_backend(request.getfixturevalue("moto_endpoint"), prefix)
    if request.param == "gcs":
        return gcs_backend(request.getfixturevalue("gcs_endpoint"), prefix)
    return web_backend(request.getfixturevalue("web_server"), prefix)


def key_of(backend: Backend, path: str) -> str:
    return f"{backend.key_prefix}/{path}" if backend.key_prefix else path


def web_uri(backend: Backend, key: str) -> str:
    """Web folders name objects by URL, percent-encoded."""
    from urllib.parse import quote

    return backend.object_uri(quote(key, safe="/"))


# --- the suite -----------------------------------------------------------------------------------


def test_write_then_read_round_trip(backend: Backend) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    backend.connector.write("out/a_0.png", data, "image/png")
    assert backend.connector.read("out/a_0.png", max_bytes=10_000) == data
    assert backend.connector.exists("out/a_0.png")


def test_overwrite_replaces_the_object(backend: Backend) -> None:
    backend.connector.write("same.png", b"first version", "image/png")
    backend.connector.write("same.png", b"second", "image/png")
    assert backend.connector.read("same.png", max_bytes=100) == b"second"
    assert backend.list_keys() == [key_of(backend, "same.png")]


@pytest.mark.parametrize(
    "data", [bytes(range(256)) * 8, b"", b"\x00" * 17], ids=["all-bytes", "empty", "nuls"]
)
def test_binary_bytes_survive(backend: Backend, data: bytes) -> None:
    backend.connector.write("bin/blob.bin", data, "application/octet-stream")
    assert backend.connector.read("bin/blob.bin", max_bytes=len(data) + 1) == data
    assert backend.raw_read(key_of(backend, "bin/blob.bin")) == data


def test_unicode_path(backend: Backend) -> None:
    path = "dossier été/漢字 🙂 #1?.png"
    stored = backend.connector.write(path, b"unicode", "image/png")
    assert backend.connector.read(path, max_bytes=100) == b"unicode"
    assert backend.raw_read(key_of(backend, path)) == b"unicode"
    assert stored.storage_uri == f"storage://{backend.connector.name}/{path}"


def test_missing_object_is_storage_object_missing(backend: Backend) -> None:
    with pytest.raises(PhotostageError) as caught:
        backend.connector.read("nothing/here.png", max_bytes=100)
    assert caught.value.kind is STORAGE_OBJECT_MISSING
    assert caught.value.status == 404
    assert not backend.connector.exists("nothing/here.png")


def test_a_folder_is_not_an_object(backend: Backend) -> None:
    backend.connector.write("folder/inside.png", b"x", "image/png")
    assert not backend.connector.exists("folder")
    with pytest.raises(PhotostageError) as caught:
        backend.connector.read("folder", max_bytes=100)
    assert caught.value.kind is STORAGE_OBJECT_MISSING


def test_delete_removes_and_is_idempotent(backend: Backend) -> None:
    backend.connector.write("gone.png", b"soon gone", "image/png")
    backend.connector.delete("gone.png")
    assert not backend.connector.exists("gone.png")
    assert backend.raw_read(key_of(backend, "gone.png")) is None
    with pytest.raises(PhotostageError) as caught:
        backend.connector.read("gone.png", max_bytes=100)
    assert caught.value.kind is STORAGE_OBJECT_MISSING
    backend.connector.delete("gone.png")


def test_read_is_capped(backend: Backend) -> None:
    backend.connector.write("big.bin", b"y" * 1000, "application/octet-stream")
    assert backend.connector.read("big.bin", max_bytes=1000) == b"y" * 1000
    with pytest.raises(PhotostageError) as caught:
        backend.connector.read("big.bin", max_bytes=999)
    assert caught.value.kind is SOURCE_TOO_LARGE


def test_failed_write_leaves_the_old_object_and_no_half_file(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.connector.write("atomic.png", b"old complete object", "image/png")
    backend.break_writes(monkeypatch)
    with pytest.raises(PhotostageError) as caught:
        backend.connector.write("atomic.png", b"new object that never lands", "image/png")
    assert caught.value.kind is STORAGE_WRITE_FAILED
    monkeypatch.undo()
    assert backend.connector.read("atomic.png", max_bytes=100) == b"old complete object"
    assert backend.list_keys() == [key_of(backend, "atomic.png")]


def test_failed_first_write_creates_nothing(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    backend.break_writes(monkeypatch)
    with pytest.raises(PhotostageError):
        backend.connector.write("never/there.png", b"data", "image/png")
    monkeypatch.undo()
    assert not backend.connector.exists("never/there.png")
    assert backend.list_keys() == []


def test_prefix_is_respected(backend: Backend) -> None:
    stored = backend.connector.write("deep/er/file.webp", b"prefixed", "image/webp")
    expected_key = key_of(backend, "deep/er/file.webp")
    assert stored.key == expected_key
    assert backend.raw_read(expected_key) == b"prefixed"
    assert all(key.startswith(backend.key_prefix) for key in backend.list_keys())
    assert backend.connector.prefix == backend.key_prefix


def test_stored_object_fields(backend: Backend) -> None:
    stored = backend.connector.write("out/a_0.png", b"fields", "image/png")
    key = key_of(backend, "out/a_0.png")
    expected_uri = (
        web_uri(backend, key) if backend.connector.type == "web_folder" else backend.object_uri(key)
    )
    assert stored == StoredObject(
        bucket=backend.bucket,
        key=key,
        object_uri=expected_uri,
        storage_uri=f"storage://{backend.connector.name}/out/a_0.png",
    )
    assert backend.connector.bucket == backend.bucket


def test_content_type_is_kept_where_the_store_records_it(backend: Backend) -> None:
    backend.connector.write("typed.avif", b"avif bytes", "image/avif")
    recorded = backend.content_type(key_of(backend, "typed.avif"))
    assert recorded in (None, "image/avif")


def test_path_safety_refusals(backend: Backend) -> None:
    operations: list[Callable[[str], object]] = [
        lambda path: backend.connector.read(path, max_bytes=100),
        lambda path: backend.connector.write(path, b"evil", "image/png"),
        backend.connector.exists,
        backend.connector.delete,
    ]
    for bad in BAD_PATHS:
        for operation in operations:
            with pytest.raises(PhotostageError) as caught:
                operation(bad)
            assert caught.value.kind is STORAGE_BAD_PATH, repr(bad)
    assert backend.list_keys() == []


def test_connector_satisfies_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.connector, Connector)


# --- kind-specific checks ------------------------------------------------------------------------


def test_local_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (root / "link").symlink_to(outside)
    connector = LocalConnector("disk", root)
    with pytest.raises(PhotostageError) as caught:
        connector.read("link/secret.txt", max_bytes=100)
    assert caught.value.kind is STORAGE_BAD_PATH
    with pytest.raises(PhotostageError):
        connector.write("link/new.txt", b"x", "text/plain")
    assert not (outside / "new.txt").exists()


def test_local_bucket_falls_back_to_local_for_the_filesystem_root() -> None:
    assert LocalConnector("root", Path("/")).bucket == "local"


def test_s3_errors_never_carry_secrets(moto_endpoint: str) -> None:
    connector = S3Connector(
        "nobucket",
        "no-such-bucket",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        key="test",
        secret=SECRET,
        gate=loopback_gate(),
    )
    with pytest.raises(PhotostageError) as caught:
        connector.write("x.png", b"x", "image/png")
    assert caught.value.kind is STORAGE_WRITE_FAILED
    rendered = caught.value.body().model_dump_json()
    assert SECRET not in rendered
    assert "storage://nobucket/x.png" in rendered


def test_s3_without_credentials_is_anonymous_not_the_servers_identity() -> None:
    connector = S3Connector("anon", "bucket", endpoint_url="http://127.0.0.1:9")
    assert connector.filesystem.anon is True


def test_gcs_with_a_service_account_key_uses_it() -> None:
    pytest.importorskip("gcsfs")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "demo",
        "client_email": "writer@demo.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    connector = GCSConnector("gcs", "bucket", service_account_info=info)
    assert connector.filesystem.credentials.credentials.service_account_email == info["client_email"]


def test_gcs_with_hmac_keys_uses_the_s3_interoperable_api() -> None:
    connector = GCSConnector("gcs", "bucket", prefix="p", access_key="GOOG1EXAMPLE", secret_access_key=SECRET)
    assert type(connector.filesystem).__name__ == "S3FileSystem"
    assert connector.filesystem.endpoint_url == GCS_XML_ENDPOINT
    assert connector.filesystem.anon is False


def test_web_folder_read_only_refuses_writes(web_server: tuple[str, WebFolderState]) -> None:
    origin, state = web_server
    state.objects["ro/a.png"] = (b"public", "image/png")
    connector = WebFolderConnector("ro", f"{origin}/ro/", gate=loopback_gate())
    assert connector.read("a.png", max_bytes=100) == b"public"
    for operation in (lambda: connector.write("b.png", b"x", "image/png"), lambda: connector.delete("a.png")):
        with pytest.raises(PhotostageError) as caught:
            operation()
        assert caught.value.status == 403
    assert "ro/b.png" not in state.objects


def test_web_folder_reads_through_the_guarded_fetch(web_server: tuple[str, WebFolderState]) -> None:
    origin, _ = web_server
    seen: list[str] = []

    def guarded_fetch(url: str) -> bytes:
        seen.append(url)
        return b"via guard"

    connector = WebFolderConnector("g", f"{origin}/base/", fetch=guarded_fetch)
    assert connector.read("é/a b.png", max_bytes=100) == b"via guard"
    assert seen == [f"{origin}/base/%C3%A9/a%20b.png"]
    with pytest.raises(PhotostageError) as caught:
        connector.read("x.png", max_bytes=3)
    assert caught.value.kind is SOURCE_TOO_LARGE


def test_web_folder_unreachable_is_a_read_failure() -> None:
    with socket.socket() as placeholder:  # bound, never listening: connections are refused, and
        placeholder.bind(("127.0.0.1", 0))  # nobody else can take the port while the test runs
        port = placeholder.getsockname()[1]
        connector = WebFolderConnector("down", f"http://127.0.0.1:{port}/", gate=loopback_gate())
        with pytest.raises(PhotostageError) as caught:
            connector.read("a.png", max_bytes=100)
    assert caught.value.code == "5005"
