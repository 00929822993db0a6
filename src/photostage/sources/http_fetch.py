"""Downloading an http(s) source: URL rules, redirects followed by hand, a capped body.

Redirects are followed here rather than by httpx so every hop goes through the same URL rules
(scheme, credentials, https-only policies) before its connection is opened, and that connection
is then vetted by the guard like the first one.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from photostage.contract.errors import (
    SOURCE_BAD_URL,
    SOURCE_FORBIDDEN,
    SOURCE_TOO_LARGE,
    SOURCE_UNREACHABLE,
)
from photostage.sources.addresses import parse_ipv4_like_inet_aton
from photostage.sources.errors import source_error
from photostage.sources.guard import AddressGate, Deadline, GuardedTransport
from photostage.sources.policy import SourcePolicy

USER_AGENT = "photostage/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def parse_http_url(url: str, allow_http: bool) -> httpx.URL:
    """An http(s) URL fit to fetch, with an IPv4 host in any ``inet_aton`` spelling rewritten
    to dotted quad (so it is checked, sent and reported as the address it really is)."""
    if _CONTROL_CHARACTERS.search(url) or url != url.strip():
        raise source_error(SOURCE_BAD_URL, "The URL contains control characters or surrounding spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise source_error(SOURCE_BAD_URL, "The URL could not be parsed.") from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise source_error(SOURCE_BAD_URL, "Only https and http URLs can be downloaded.")
    if scheme == "http" and not allow_http:
        raise source_error(
            SOURCE_FORBIDDEN,
            "Plain http URLs are not allowed on this server (PHOTOSTAGE_SOURCES__ALLOW_HTTP); use https.",
        )
    if "@" in parts.netloc:
        raise source_error(SOURCE_BAD_URL, "URLs with credentials (user:password@) are not allowed.")
    if not parts.hostname or port == 0:
        raise source_error(SOURCE_BAD_URL, "The URL has no valid host.")
    dotted = parse_ipv4_like_inet_aton(parts.hostname)
    if dotted is not None and parts.hostname != str(dotted):
        netloc = str(dotted) if port is None else f"{dotted}:{port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    try:
        parsed = httpx.URL(url)
        # httpx needs the host both IDNA-decoded (Host header) and encoded (connection); a
        # malformed label fails only when a form is asked for, so ask for both here.
        has_host = bool(parsed.host) and bool(host_of(parsed))
    except (httpx.InvalidURL, UnicodeError) as error:  # IDNA and surrogate errors are UnicodeErrors
        raise source_error(SOURCE_BAD_URL, "The URL could not be parsed.") from error
    if parsed.userinfo or not has_host:
        raise source_error(SOURCE_BAD_URL, "The URL has credentials or no host.")
    return parsed


def host_of(url: httpx.URL) -> str:
    """The host exactly as httpcore will hand it to the network backend (ASCII, IDNA-encoded,
    IPv6 without brackets); ``URL.host`` would IDNA-decode it, which can fail."""
    return url.raw_host.decode("ascii")


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


class _BodyDecoder:
    """Undoes a gzip/deflate Content-Encoding without ever inflating past the byte cap (we ask
    for ``identity``, but a server may compress anyway; a zip bomb must not get a free pass)."""

    def __init__(self, content_encoding: str) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflater = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        else:
            message = "The server sent the image in an unsupported content encoding."
            raise source_error(SOURCE_UNREACHABLE, message)

    def decode(self, chunk: bytes, limit: int) -> bytes:
        """At most ``limit`` bytes of output; exactly ``limit`` means "there may be more"."""
        if self._inflater is None:
            return chunk
        try:
            return self._inflater.decompress(chunk, limit)
        except zlib.error as error:
            raise source_error(SOURCE_UNREACHABLE, "The server sent a corrupt compressed body.") from error


def read_capped_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refused as soon as it is known to exceed ``max_bytes``: from the
    declared Content-Length before reading, else once byte ``max_bytes + 1`` arrives."""
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        raise source_error(SOURCE_TOO_LARGE, f"The image is larger than {max_bytes} bytes.")
    decoder = _BodyDecoder(response.headers.get("content-encoding", ""))
    body = bytearray()
    for chunk in response.iter_raw():
        body += decoder.decode(chunk, max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            raise source_error(SOURCE_TOO_LARGE, f"The image is larger than {max_bytes} bytes.")
    return bytes(body)


@dataclass(frozen=True)
class HttpFetcher:
    """Downloads one http(s) URL under a :class:`SourcePolicy`.

    Requests go straight to the guarded transport rather than through ``httpx.Client``: the
    client adds nothing we want here (cookies, environment proxies, its own redirect handling,
    which parses every Location even when not following it) and each of those is a way around
    the rules above.
    """

    policy: SourcePolicy
    gate: AddressGate
    ssl_context: ssl.SSLContext

    def fetch(self, url: str) -> bytes:
        target = parse_http_url(url, self.policy.allow_http)
        self.gate.check_literal(host_of(target))
        deadline = Deadline.after(self.policy.timeout_s)
        try:
            with GuardedTransport(self.gate, deadline, self.ssl_context) as transport:
                return self._follow_redirects(transport, target)
        except httpx.TimeoutException as error:
            message = f"The download did not finish within {self.policy.timeout_s:g} s."
            raise source_error(SOURCE_UNREACHABLE, message) from error
        except httpx.HTTPError as error:
            message = "The connection to the image host failed (refused, reset, or a TLS error)."
            raise source_error(SOURCE_UNREACHABLE, message) from error

    def _follow_redirects(self, transport: GuardedTransport, target: httpx.URL) -> bytes:
        for _ in range(self.policy.max_redirects + 1):
            with contextlib.closing(self._send(transport, target)) as response:
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or location is None:
                    return self._body(response)
            target = self._next_hop(target, location)
        message = f"The image URL redirected more than {self.policy.max_redirects} times."
        raise source_error(SOURCE_UNREACHABLE, message)

    def _send(self, transport: GuardedTransport, target: httpx.URL) -> httpx.Response:
        request = httpx.Request(
            "GET",
            target,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.8", "Accept-Encoding": "identity"},
            extensions={"timeout": httpx.Timeout(self.policy.timeout_s).as_dict()},
        )
        response = transport.handle_request(request)
        response.request = request
        return response

    def _next_hop(self, current: httpx.URL, location: str) -> httpx.URL:
        try:
            joined = current.join(location)
        except (httpx.InvalidURL, UnicodeError) as error:
            raise source_error(SOURCE_BAD_URL, "The image URL redirected to an invalid URL.") from error
        target = parse_http_url(str(joined), self.policy.allow_http)
        self.gate.check_literal(host_of(target))
        return target

    def _body(self, response: httpx.Response) -> bytes:
        if not 200 <= response.status_code < 300:
            message = f"The image host answered HTTP {response.status_code}."
            raise source_error(SOURCE_UNREACHABLE, message)
        return read_capped_body(response, self.policy.max_bytes)
