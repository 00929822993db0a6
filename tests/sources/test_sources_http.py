"""http(s) sources against real loopback servers.

No test connects anywhere but 127.0.0.1: every connection goes through ``socket.create_connection``
(httpcore's socket backend), which the ``connections`` fixture replaces with a recorder that
fails the test for any other address. Refusals of private, link-local and public targets are
shown by the refusal itself plus an empty connection record; names resolve through a stub.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from photostage.contract.errors import (
    SOURCE_BAD_URL,
    SOURCE_FORBIDDEN,
    SOURCE_TOO_LARGE,
    SOURCE_UNREACHABLE,
    PhotostageError,
)
from photostage.sources import SourcePolicy, SourceReader

BODY = b"\x89PNG fake image bytes " * 50  # 1100 bytes
LOOPBACK = ("127.0.0.1", "::1")


DRIP_BYTES = 1500  # under the readers' 2000-byte cap
DRIP_INTERVAL_S = 0.15


class Handler(BaseHTTPRequestHandler):
    """Routes by path; ``self.server.stop`` ends the slow routes when a test finishes."""

    server: TestServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        """Keep test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.requests.append((self.path, dict(self.headers.items())))
        route = urlsplit(self.path).path
        query = parse_qs(urlsplit(self.path).query)
        if route == "/ok":
            self.reply(200, BODY)
        elif route == "/echo":
            self.reply(200, f"{self.headers['Host']}|{self.headers['User-Agent']}".encode())
        elif route == "/redirect":
            self.redirect(query["to"][0], int(query.get("status", ["302"])[0]))
        elif route == "/relative":
            self.redirect("ok?from=relative", 301)
        elif route == "/loop":
            self.redirect("/loop", 302)
        elif route.startswith("/chain/"):
            left = int(route.rsplit("/", 1)[1])
            self.redirect(f"/chain/{left - 1}" if left > 1 else "/ok", 307)
        elif route == "/missing":
            self.reply(404, b"not here")
        elif route == "/error":
            self.reply(503, b"busy")
        elif route == "/slow":
            self.server.stop.wait(240)  # answers only when the test ends: only a timeout ends the fetch
            self.reply(200, BODY)
        elif route == "/drip":
            self.drip()
        elif route == "/big":
            self.reply(200, b"x" * 5000)
        elif route == "/big-unannounced":
            self.reply(200, b"x" * 5000, announce_length=False)
        elif route == "/gzip":
            self.reply(200, gzip.compress(BODY), headers={"Content-Encoding": "gzip"})
        elif route == "/gzip-bomb":
            self.reply(200, gzip.compress(b"\0" * 10_000_000), headers={"Content-Encoding": "gzip"})
        elif route == "/brotli":
            self.reply(200, b"whatever", headers={"Content-Encoding": "br"})
        else:
            self.reply(404, b"unknown route")

    def reply(self, status: int, body: bytes, announce_length: bool = True,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if announce_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may stop reading at its cap
            self.wfile.write(body)

    def redirect(self, location: str, status: int) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def drip(self) -> None:
        """One byte every 0.15 s for almost 4 minutes: each read is quick, only a whole-fetch deadline
        stops it (without one the fetch would succeed, minutes later)."""
        self.send_response(200)
        self.send_header("Content-Length", str(DRIP_BYTES))
        self.end_headers()
        for _ in range(DRIP_BYTES):
            if self.server.stop.wait(DRIP_INTERVAL_S):
                return
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return


class TestServer(ThreadingHTTPServer):
    __test__ = False
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def serve(server: TestServer) -> Iterator[TestServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    yield from serve(TestServer())


@dataclass
class StubResolver:
    """Names to addresses; records every lookup; unknown names fail like DNS does."""

    table: dict[str, list[str]]
    calls: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connect the code under test makes; anything off loopback fails the test."""
    attempts: list[tuple[str, int]] = []
    real_create_connection = socket.create_connection

    def guarded_create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        attempts.append(address)
        if address[0] not in LOOPBACK:
            pytest.fail(f"the code under test tried to connect to {address}")
        return real_create_connection(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    return attempts


@pytest.fixture(scope="module")
def tls_context() -> ssl.SSLContext:
    """One client trust store for the module (building one costs ~50 ms)."""
    return ssl.create_default_context()


@pytest.fixture
def make_reader(tls_context: ssl.SSLContext) -> Callable[..., SourceReader]:
    def build(resolver: StubResolver | None = None, tls: ssl.SSLContext | None = None,
              **policy: object) -> SourceReader:
        settings = {"timeout_s": 3.0, "max_bytes": 2000, **policy}
        return SourceReader(
            SourcePolicy(**settings),  # type: ignore[arg-type]
            resolver=resolver or StubResolver({}),
            tls_context=tls or tls_context,
        )

    return build


def refusal(reader: SourceReader, url: str) -> PhotostageError:
    with pytest.raises(PhotostageError) as caught:
        reader.read(url, field="object.image_url")
    assert caught.value.details == {"object.image_url": [caught.value.public_message]}
    return caught.value


LOCAL = ("127.0.0.1",)


def test_sources_fetch_from_allow_listed_loopback(server, make_reader, connections) -> None:
    reader = make_reader(allow_hosts=LOCAL)
    assert reader.read(server.url("/ok")) == BODY
    assert connections == [("127.0.0.1", server.port)]
    path, headers = server.requests[-1]
    assert headers["User-Agent"] == "photostage/0.1"


def test_sources_default_policy_refuses_loopback_before_connecting(server, make_reader, connections) -> None:
    resolver = StubResolver({"localhost": ["127.0.0.1"]})
    reader = make_reader(resolver=resolver)
    for url in (server.url("/ok"), server.url("/ok", host="localhost"), server.url("/ok", host="[::1]")):
        assert refusal(reader, url).kind == SOURCE_FORBIDDEN
    assert connections == []
    assert resolver.calls == ["localhost"]


def test_sources_allow_listed_name_connects_to_the_vetted_address(server, make_reader, connections) -> None:
    resolver = StubResolver({"assets.test": ["127.0.0.1"]})
    reader = make_reader(resolver=resolver, allow_hosts=("assets.test",))
    body = reader.read(server.url("/echo", host="assets.test"))
    assert body == f"assets.test:{server.port}|photostage/0.1".encode()
    assert resolver.calls == ["assets.test"]
    assert connections == [("127.0.0.1", server.port)]


def test_sources_name_is_resolved_once_per_connection(server, make_reader, connections) -> None:
    """A rebinding resolver (safe answer, then a private one) cannot swap the address after
    the check: the connection goes to the one address that was vetted."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    reader = SourceReader(SourcePolicy(allow_hosts=LOCAL, timeout_s=3), resolver=rebinding)
    assert reader.read(server.url("/ok", host="rebind.test")) == BODY
    assert connections == [("127.0.0.1", server.port)]
    assert next(answers) == ["10.0.0.1"]  # the second answer was never asked for


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "[::1]", "[fe80::1]", "[fe80::1%25eth0]", "[fc00::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.1",
        "127.1", "[::]", "0",
    ],
)
def test_sources_forbidden_literal_hosts(host: str, make_reader, connections) -> None:
    resolver = StubResolver({})
    error = refusal(make_reader(resolver=resolver), f"http://{host}/x.png")
    assert error.kind == SOURCE_FORBIDDEN
    assert connections == []
    assert resolver.calls == []


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.20.0.5", "192.168.0.10", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1"],
)
def test_sources_names_resolving_to_forbidden_addresses(address: str, make_reader, connections) -> None:
    resolver = StubResolver({"evil.test": [address]})
    assert refusal(make_reader(resolver=resolver), "https://evil.test/x.png").kind == SOURCE_FORBIDDEN
    assert connections == []


def test_sources_one_private_address_among_public_ones_refuses_the_name(make_reader, connections) -> None:
    resolver = StubResolver({"mixed.test": ["93.184.216.34", "10.0.0.1"]})
    assert refusal(make_reader(resolver=resolver), "https://mixed.test/x.png").kind == SOURCE_FORBIDDEN
    assert connections == []


def test_sources_allow_list_by_cidr(server, make_reader, connections) -> None:
    reader = make_reader(allow_hosts=("127.0.0.0/8",))
    assert reader.read(server.url("/ok", host="0x7f.1")) == BODY
    assert connections == [("127.0.0.1", server.port)]


@pytest.mark.parametrize(
    "target",
    ["http://10.0.0.1/x", "http://metadata.test/latest/meta-data/", "http://[::ffff:a9fe:a9fe]/",
     "http://2852039166/", "https://metadata.test/"],
)
def test_sources_redirect_to_forbidden_target_is_refused(target: str, server, make_reader,
                                                         connections) -> None:
    resolver = StubResolver({"metadata.test": ["169.254.169.254"]})
    reader = make_reader(resolver=resolver, allow_hosts=LOCAL)
    assert refusal(reader, server.url(f"/redirect?to={target}")).kind == SOURCE_FORBIDDEN
    assert connections == [("127.0.0.1", server.port)]
    assert resolver.calls == (["metadata.test"] if "metadata.test" in target else [])


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "data:,x"])
def test_sources_redirect_to_other_schemes_is_refused(target: str, server, make_reader, connections) -> None:
    reader = make_reader(allow_hosts=LOCAL)
    assert refusal(reader, server.url(f"/redirect?to={target}")).kind == SOURCE_BAD_URL
    assert len(connections) == 1


def test_sources_redirects_followed_within_limit(server, make_reader, connections) -> None:
    reader = make_reader(allow_hosts=LOCAL, max_redirects=3)
    assert reader.read(server.url("/relative")) == BODY
    assert server.requests[-1][0] == "/ok?from=relative"
    assert reader.read(server.url("/chain/3")) == BODY
    assert refusal(reader, server.url("/chain/4")).kind == SOURCE_UNREACHABLE
    assert refusal(reader, server.url("/loop")).kind == SOURCE_UNREACHABLE
    assert refusal(make_reader(allow_hosts=LOCAL, max_redirects=0), server.url("/relative")).kind == (
        SOURCE_UNREACHABLE
    )


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/error", 503)])
def test_sources_error_status_is_unreachable(path: str, status: int, server, make_reader,
                                             connections) -> None:
    error = refusal(make_reader(allow_hosts=LOCAL), server.url(path))
    assert error.kind == SOURCE_UNREACHABLE
    assert str(status) in error.public_message
    assert server.url(path) not in error.public_message


def test_sources_slow_server_times_out(server, make_reader, connections) -> None:
    """The server would answer only when the test ends: a refusal can only be the timeout."""
    reader = make_reader(allow_hosts=LOCAL, timeout_s=0.3)
    error = refusal(reader, server.url("/slow"))
    assert error.kind == SOURCE_UNREACHABLE and "0.3 s" in error.public_message


def test_sources_deadline_covers_the_whole_fetch(server, make_reader, connections) -> None:
    """A server that drips a byte every 0.15 s never trips a per-read timeout; the fetch
    deadline still ends it."""
    reader = make_reader(allow_hosts=LOCAL, timeout_s=0.4)
    error = refusal(reader, server.url("/drip"))  # a success would need the whole drip
    assert error.kind == SOURCE_UNREACHABLE and "0.4 s" in error.public_message


def test_sources_connection_refused_is_unreachable(make_reader, connections) -> None:
    with socket.socket() as placeholder:  # bound, never listening: refused, and the port stays ours
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        error = refusal(make_reader(allow_hosts=LOCAL), f"http://127.0.0.1:{port}/x")
    assert error.kind == SOURCE_UNREACHABLE


def test_sources_unknown_name_is_unreachable(make_reader, connections) -> None:
    assert refusal(make_reader(), "https://no-such-host.test/x").kind == SOURCE_UNREACHABLE
    assert connections == []


@pytest.mark.parametrize("path", ["/big", "/big-unannounced", "/gzip-bomb"])
def test_sources_body_over_cap(path: str, server, make_reader, connections) -> None:
    assert refusal(make_reader(allow_hosts=LOCAL, max_bytes=2000), server.url(path)).kind == SOURCE_TOO_LARGE


def test_sources_body_at_cap_and_content_encoding(server, make_reader, connections) -> None:
    assert make_reader(allow_hosts=LOCAL, max_bytes=5000).read(server.url("/big-unannounced")) == b"x" * 5000
    assert make_reader(allow_hosts=LOCAL).read(server.url("/gzip")) == BODY
    assert refusal(make_reader(allow_hosts=LOCAL), server.url("/brotli")).kind == SOURCE_UNREACHABLE


@pytest.mark.parametrize(
    "url",
    ["http://user:secret@127.0.0.1/x", "https://user@example.com/x", "http://:pw@example.com/",
     "http:///x", "http://", "http://[::1/x", "http://example.com:99999/", " http://example.com/",
     "http://exa\nmple.com/", "http://xn--/", "http://[fe80::1%25\u00e4]/", "http://x/\ud800"],
)
def test_sources_malformed_http_urls(url: str, make_reader, connections) -> None:
    error = refusal(make_reader(), url)
    assert error.kind == SOURCE_BAD_URL
    assert "secret" not in error.public_message
    assert connections == []


def test_sources_plain_http_refused_when_not_allowed(server, make_reader, connections) -> None:
    reader = make_reader(allow_hosts=LOCAL, allow_http=False)
    assert refusal(reader, server.url("/ok")).kind == SOURCE_FORBIDDEN
    assert connections == []


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """A certificate and key for ``host`` (cryptography ships with the test environment)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestServer, ssl.SSLContext, list[str]]]:
    """An https server for ``assets.test`` on loopback, a client context trusting it, and the
    SNI names the server was offered."""
    certificate, key = _self_signed("assets.test")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate)
    (folder / "key.pem").write_bytes(key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    offered_names: list[str] = []
    server_context.sni_callback = lambda sock, name, context: offered_names.append(name)  # type: ignore[assignment]
    client_context = ssl.create_default_context(cadata=certificate.decode())
    server = TestServer(tls=server_context)
    for running in serve(server):
        yield running, client_context, offered_names


def test_sources_https_keeps_sni_and_host_while_connecting_to_the_vetted_ip(
    tls_server, make_reader, connections
) -> None:
    server, client_context, offered_names = tls_server
    resolver = StubResolver({"assets.test": ["127.0.0.1"]})
    reader = make_reader(resolver=resolver, tls=client_context, allow_hosts=("assets.test",),
                         allow_http=False)
    url = server.url("/echo", host="assets.test", scheme="https")
    assert reader.read(url) == f"assets.test:{server.port}|photostage/0.1".encode()
    assert offered_names[-1] == "assets.test"
    assert connections == [("127.0.0.1", server.port)]


def test_sources_https_certificate_is_checked_against_the_host_name(
    tls_server, make_reader, connections
) -> None:
    server, client_context, _ = tls_server
    resolver = StubResolver({"other.test": ["127.0.0.1"]})
    reader = make_reader(resolver=resolver, tls=client_context, allow_hosts=("other.test",))
    assert refusal(reader, server.url("/ok", host="other.test", scheme="https")).kind == SOURCE_UNREACHABLE


def test_sources_https_to_http_downgrade(tls_server, server, make_reader, connections) -> None:
    tls, client_context, _ = tls_server
    resolver = StubResolver({"assets.test": ["127.0.0.1"]})
    downgrade = tls.url(f"/redirect?to={server.url('/ok')}", host="assets.test", scheme="https")
    strict = make_reader(resolver=resolver, tls=client_context, allow_hosts=("assets.test", "127.0.0.1"),
                         allow_http=False)
    assert refusal(strict, downgrade).kind == SOURCE_FORBIDDEN
    assert connections == [("127.0.0.1", tls.port)]
    lenient = make_reader(resolver=resolver, tls=client_context, allow_hosts=("assets.test", "127.0.0.1"))
    assert lenient.read(downgrade) == BODY


def test_sources_no_proxy_from_environment(server, make_reader, connections, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    assert make_reader(allow_hosts=LOCAL).read(server.url("/ok")) == BODY
    assert connections == [("127.0.0.1", server.port)]

