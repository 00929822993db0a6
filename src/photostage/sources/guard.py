"""The SSRF guard, enforced where it cannot be bypassed: at TCP connect time.

httpcore asks its network backend to ``connect_tcp(host, port)`` for every new connection,
redirect hops included. :class:`GuardedBackend` answers by resolving the host once, refusing
the whole host if any of its addresses is forbidden (unless allow-listed), and connecting to the
vetted IP itself, so nothing resolves the name a second time (no DNS-rebinding window). TLS
still verifies and sends SNI for the original host name, because httpcore passes the URL's host
to ``start_tls`` independently of the address the socket reached. The guarded streams also
clamp every socket timeout to one deadline for the whole fetch.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from photostage.contract.errors import SOURCE_FORBIDDEN, SOURCE_UNREACHABLE
from photostage.sources.addresses import (
    AllowList,
    IPAddress,
    canonical_address,
    is_forbidden_address,
    parse_ip_literal,
)
from photostage.sources.errors import source_error

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> IP strings``; raises ``OSError`` when the name does not resolve."""

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo``), addresses in its preference order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressGate:
    """Decides which addresses a host may be reached at, once per connection."""

    allow_list: AllowList
    resolver: Resolver
    allow_setting: str = "PHOTOSTAGE_SOURCES__ALLOW_HOSTS"  # named in refusals: how an operator allows a host

    def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, or an error if any of them is forbidden: a name that
        resolves to one public and one private address is refused as a whole, since the OS
        may pick either."""
        literal = parse_ip_literal(host)
        candidates = [literal] if literal is not None else self._resolve(host, port)
        if not all(self._is_allowed(host, address) for address in candidates):
            what = "address" if literal is not None else "host name"
            raise source_error(
                SOURCE_FORBIDDEN,
                f"The {what} {host} points to a loopback, private or reserved address, which this server does "
                f"not fetch from unless its operator allows that host in {self.allow_setting} "
                f"(host names, IPs or CIDR ranges). Use a public URL, storage://, or a data: URI.",
            )
        return list(dict.fromkeys(canonical_address(address) for address in candidates))

    def check_literal(self, host: str) -> None:
        """Refuse a forbidden IP literal before any client is built (the connect-time check
        would refuse it too); host names are left to connect time."""
        if parse_ip_literal(host) is not None:
            self.vetted_addresses(host, 0)

    def _is_allowed(self, host: str, address: IPAddress) -> bool:
        return (
            not is_forbidden_address(address)
            or self.allow_list.allows_name(host)
            or self.allow_list.allows_address(address)
        )

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            texts = self.resolver(host, port)
            addresses = [ipaddress.ip_address(text) for text in texts]
        except (OSError, UnicodeError, ValueError) as error:
            raise source_error(SOURCE_UNREACHABLE, f"The host name {host} could not be resolved.") from error
        if not addresses:
            raise source_error(SOURCE_UNREACHABLE, f"The host name {host} could not be resolved.")
        return addresses


@dataclass(frozen=True)
class Deadline:
    """One time budget for a whole fetch: connects, TLS handshakes, reads and redirects."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def clamp(self, timeout: float | None, expired: type[httpcore.TimeoutException]) -> float:
        """``timeout`` shortened to the time left; ``expired`` is raised when none is left."""
        left = self.expires_at - time.monotonic()
        if left <= 0:
            raise expired("The fetch ran out of time.")
        return left if timeout is None else min(timeout, left)


class GuardedStream(httpcore.NetworkStream):
    """A network stream whose every socket operation is bounded by the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return GuardedStream(self._inner.start_tls(ssl_context, server_hostname, bounded), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the gate has vetted."""

    def __init__(self, gate: AddressGate, deadline: Deadline) -> None:
        self._gate = gate
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._gate.vetted_addresses(host, port)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            bounded = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
            try:
                stream = super().connect_tcp(str(address), port, bounded, local_address, socket_options)
            except httpcore.ConnectError as error:
                failure = error
                continue
            return GuardedStream(stream, self._deadline)
        raise failure or httpcore.ConnectError(f"No address of {host} accepted a connection.")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        """Sources are network URLs; a local socket is never one."""
        raise httpcore.ConnectError("Unix sockets are not a source.")


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpx's transport contract: raise httpx exceptions, not httpcore ones."""
    try:
        yield
    except httpcore.TimeoutException as error:
        raise httpx.TimeoutException(str(error)) from error
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        raise httpx.TransportError(str(error)) from error


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that uses a :class:`GuardedBackend`."""

    def __init__(self, gate: AddressGate, deadline: Deadline, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(gate, deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("GuardedTransport sends synchronous requests only")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            core_response = self._pool.handle_request(core_request)
        if not isinstance(core_response.stream, Iterable):
            raise TypeError("httpcore returned a non-iterable response stream")
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
