"""The SSRF guard inside third-party HTTP stacks: aiohttp (s3fs/aiobotocore, gcsfs) and requests
(google-auth's token requests).

The rule is :mod:`photostage.sources.guard`'s: a host is resolved once, at connect time, by the
:class:`~photostage.sources.guard.AddressGate`, and the socket goes to an address the gate
vetted, so nothing resolves the name a second time between the check and the connection (DNS
rebinding). Each stack gets the hook it actually connects through:

- aiohttp: a resolver (:func:`aiohttp_resolver`) that answers with vetted addresses only, and a
  socket factory (:func:`aiohttp_socket_factory`) that every connection passes through, which
  also covers IP literals (aiohttp does not resolve those) and refuses any address the resolver
  did not vet. aiobotocore takes both as ``connector_args``; gcsfs takes a connector.
- requests/urllib3: a transport adapter (:func:`guarded_requests_session`) whose connections
  resolve through the gate and connect to the vetted address, TLS still verified for the name.

A refusal is raised as :class:`AddressRefused` carrying the gate's :class:`PhotostageError`. A
refusal is final, so it is shaped for each stack to give up at once: a plain exception (not an
``OSError``) passes through requests, google-auth and gcsfs unretried (gcsfs retries connection
errors six times, for half a minute); for aiobotocore it is a connection error
(:class:`ConnectionAddressRefused`), which botocore tries its three attempts at and s3fs does not
retry further (s3fs retries other client errors with backoff). :func:`refusal_in` finds it again
in whatever a stack wrapped it in, so the caller answers with the guard's message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from typing import TYPE_CHECKING, Any

from photostage.contract.errors import SOURCE_FORBIDDEN, PhotostageError
from photostage.sources.addresses import IPAddress, canonical_address
from photostage.sources.guard import AddressGate

if TYPE_CHECKING:
    import aiohttp.abc
    import requests

MAX_REMEMBERED = 1024


class AddressRefused(Exception):  # noqa: N818 - a refusal, not an error of the code
    """The guard refused to connect; ``error`` is the guard's contract error."""

    def __init__(self, error: PhotostageError) -> None:
        super().__init__(error.public_message)
        self.error = error


def refusal_in(error: BaseException | None) -> PhotostageError | None:
    """The guard's refusal somewhere in ``error``'s chain of causes (or its ``args``, where some
    stacks put the original), else None."""
    seen: set[int] = set()
    pending: list[BaseException] = [error] if error is not None else []
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AddressRefused):
            return current.error
        if isinstance(current, PhotostageError) and current.kind is SOURCE_FORBIDDEN:
            return current
        pending.extend(item for item in (current.__cause__, current.__context__) if item is not None)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        inner = getattr(current, "os_error", None) or getattr(current, "reason", None)
        if isinstance(inner, BaseException):
            pending.append(inner)
        kwargs = getattr(current, "kwargs", None)  # botocore keeps the cause as kwargs["error"]
        if isinstance(kwargs, dict):
            pending.extend(value for value in kwargs.values() if isinstance(value, BaseException))
    return None


class ConnectionAddressRefused(AddressRefused, ConnectionRefusedError):
    """:class:`AddressRefused` for stacks that should see a failed connection (aiobotocore)."""


class VettedAddresses:
    """The addresses a gate vetted for one client, so the socket factory can tell them from an
    address nobody checked (bounded; a client talks to one endpoint)."""

    def __init__(self, gate: AddressGate, refusal: type[AddressRefused] = AddressRefused) -> None:
        self.gate = gate
        self.refusal = refusal
        self._vetted: set[IPAddress] = set()
        self._lock = threading.Lock()

    def vet(self, host: str, port: int) -> list[IPAddress]:
        """The vetted addresses of ``host``; AddressRefused for a forbidden one, ``socket.gaierror``
        for a name that does not resolve (what the stacks expect of a resolver)."""
        try:
            addresses = self.gate.vetted_addresses(host, port)
        except PhotostageError as error:
            if error.kind is SOURCE_FORBIDDEN:
                raise self.refusal(error) from error
            raise socket.gaierror(socket.EAI_NONAME, error.public_message) from error
        with self._lock:
            if len(self._vetted) > MAX_REMEMBERED:
                self._vetted.clear()
            self._vetted.update(addresses)
        return addresses

    def check_connect(self, address: IPAddress) -> None:
        """Refuse to connect to ``address`` unless the gate vetted it (names) or it passes the
        gate as a literal (IP hosts, which aiohttp connects to without resolving)."""
        address = canonical_address(address)
        with self._lock:
            if address in self._vetted:
                return
        self.vet(str(address), 0)


# --- aiohttp ------------------------------------------------------------------------------------


def aiohttp_resolver(vetted: VettedAddresses) -> aiohttp.abc.AbstractResolver:
    """An aiohttp resolver answering with the gate's vetted addresses only."""
    from aiohttp.abc import AbstractResolver, ResolveResult

    class GuardedResolver(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
            addresses = await asyncio.get_running_loop().run_in_executor(None, vetted.vet, host, port)
            return [
                {
                    "hostname": host,
                    "host": str(address),
                    "port": port,
                    "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
                for address in addresses
            ]

        async def close(self) -> None:
            return None

    return GuardedResolver()


def aiohttp_socket_factory(vetted: VettedAddresses) -> Any:
    """aiohttp's ``socket_factory``: every connection's address is checked right before the
    socket is made (the last moment before ``connect``)."""

    def make_socket(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        vetted.check_connect(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        sock = socket.socket(family=family, type=kind, proto=proto)
        sock.setblocking(False)
        return sock

    return make_socket


def aiohttp_connector_args(gate: AddressGate, refusal: type[AddressRefused] = AddressRefused) -> dict[str, Any]:
    """``resolver`` and ``socket_factory`` for an aiohttp ``TCPConnector`` (aiobotocore's
    ``connector_args``), sharing one record of vetted addresses; ``refusal`` is what a refused
    connection raises (see the module)."""
    vetted = VettedAddresses(gate, refusal)
    return {"resolver": aiohttp_resolver(vetted), "socket_factory": aiohttp_socket_factory(vetted)}


# --- requests (google-auth) ---------------------------------------------------------------------


def guarded_requests_session(gate: AddressGate) -> requests.Session:
    """A requests session whose every connection is resolved by ``gate`` and made to a vetted
    address (TLS verified against the host name); environment proxies are ignored."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import NewConnectionError
    from urllib3.util.connection import create_connection

    vetted = VettedAddresses(gate)

    def new_conn(connection: HTTPConnection) -> socket.socket:
        # AddressRefused passes through urllib3, requests and google-auth unretried (see above).
        addresses = vetted.vet(connection._dns_host, connection.port or 0)
        failure: OSError | None = None
        for address in addresses:
            try:
                return create_connection(
                    (str(address), connection.port),
                    timeout=connection.timeout,
                    source_address=connection.source_address,
                    socket_options=connection.socket_options,
                )
            except OSError as error:
                failure = error
        raise NewConnectionError(connection, f"Failed to establish a new connection: {failure}") from failure

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            raise requests.exceptions.InvalidProxyURL("proxies are not used for guarded connections")

    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY, no .netrc: connect where the gate says
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
