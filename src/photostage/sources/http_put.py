"""Uploading a result to an ``https://`` destination with one HTTP PUT (Claid's
``output.destination`` may be a plain URL; pre-signed URLs of S3, GCS and Azure work this way).

The connection goes through the same connect-time address guard as downloads (loopback, private,
link-local and metadata addresses refused unless allow-listed), with the same timeout. Redirects
are not followed: a PUT would have to send its body again to a place the user did not name.
Nothing of the URL's query (a pre-signed URL's signature) appears in an error message.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from photostage.contract.errors import DESTINATION_FAILED, PhotostageError
from photostage.sources.guard import AddressGate, Deadline, GuardedTransport
from photostage.sources.http_fetch import USER_AGENT, host_of, parse_http_url
from photostage.sources.policy import SourcePolicy

FIELD = "output.destination"


def without_query(url: str) -> str:
    """The URL as it may be shown or stored: no query, no fragment, no user info."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def write_failed(url: str, reason: str) -> PhotostageError:
    return PhotostageError(
        DESTINATION_FAILED,
        message=f"The result could not be uploaded to {without_query(url)}: {reason}",
        details={FIELD: [reason]},
    )


@dataclass(frozen=True)
class HttpPutter:
    policy: SourcePolicy
    gate: AddressGate
    ssl_context: ssl.SSLContext

    def put(self, url: str, data: bytes, content_type: str) -> None:
        """PUT ``data`` at ``url``; any answer but 2xx, or no answer, is a 400 (5006): the
        destination the request named did not take the result."""
        target = parse_http_url(url, self.policy.allow_http)
        self.gate.check_literal(host_of(target))
        deadline = Deadline.after(self.policy.timeout_s)
        request = httpx.Request(
            "PUT", target, content=data,
            headers={"User-Agent": USER_AGENT, "Content-Type": content_type, "Content-Length": str(len(data))},
            extensions={"timeout": httpx.Timeout(self.policy.timeout_s).as_dict()},
        )
        try:
            with GuardedTransport(self.gate, deadline, self.ssl_context) as transport, contextlib.closing(
                transport.handle_request(request)
            ) as response:
                response.read()
                status = response.status_code
        except httpx.TimeoutException:
            raise write_failed(url, f"no answer within {self.policy.timeout_s:g} s") from None
        except httpx.HTTPError:
            raise write_failed(url, "the connection failed (refused, reset, or a TLS error)") from None
        if 300 <= status < 400:
            raise write_failed(url, f"HTTP {status}: redirects are not followed for uploads; give the final URL")
        if not 200 <= status < 300:
            raise write_failed(url, f"HTTP {status} (check that the URL allows a PUT and has not expired)")
