"""Reading a request's input URL (``object.image_url``, ``scene.template_url``) into bytes.

One entry point dispatches on the scheme: https/http (SSRF-guarded at connect time, then
byte-capped), ``data:`` (byte-capped), ``storage://`` (delegated to the storage layer). Every
other scheme (``file:``, ``ftp:``, ``gopher:``, ``javascript:`` ...) is refused.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from photostage.contract.errors import SOURCE_BAD_URL, SOURCE_FORBIDDEN, PhotostageError
from photostage.sources.data_uri import decode_data_uri
from photostage.sources.errors import for_field, source_error
from photostage.sources.guard import AddressGate, Resolver, system_resolver
from photostage.sources.http_fetch import HttpFetcher
from photostage.sources.http_put import FIELD as DESTINATION_FIELD
from photostage.sources.http_put import HttpPutter
from photostage.sources.policy import SourcePolicy

__all__ = ["Resolver", "SourcePolicy", "SourceReader"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def url_scheme(url: str) -> str | None:
    """The URL's scheme, lower-cased, or None when it has none."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


class SourceReader:
    """Turns an input URL into its bytes under a :class:`SourcePolicy`.

    ``read_storage`` reads ``storage://`` URLs (the storage layer owns them); ``resolver``
    replaces the system DNS resolver (tests, or a deployment's own); ``tls_context`` replaces
    the default trust store (certifi, or ``SSL_CERT_FILE``), e.g. for a private CA.
    """

    def __init__(
        self,
        policy: SourcePolicy,
        read_storage: Callable[[str], bytes] | None = None,
        resolver: Resolver | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self._read_storage = read_storage
        gate = AddressGate(allow_list=policy.allow_list(), resolver=resolver or system_resolver)
        self._gate = gate
        ssl_context = tls_context or httpx.create_ssl_context()
        self._http = HttpFetcher(policy=policy, gate=gate, ssl_context=ssl_context)
        self._put = HttpPutter(policy=policy, gate=gate, ssl_context=ssl_context)

    def upload(self, url: str, data: bytes, content_type: str) -> None:
        """PUT a result at an http(s) ``output.destination`` through the same address guard."""
        if url_scheme(url) not in ("http", "https"):
            raise for_field(source_error(SOURCE_BAD_URL, "The destination must be an http(s) URL."), DESTINATION_FIELD)
        try:
            self._put.put(url, data, content_type)
        except PhotostageError as error:
            raise for_field(error, DESTINATION_FIELD) if not error.details else error from None

    def read(self, url: str, field: str | None = None) -> bytes:
        """The bytes behind ``url``; errors are :class:`PhotostageError` with their message
        filed under ``field`` (e.g. ``object.image_url``) in the details."""
        scheme = url_scheme(url)
        if scheme == "storage":
            return self._from_storage(url, field)
        try:
            if scheme in ("https", "http"):
                return self._http.fetch(url)
            if scheme == "data":
                return self._from_data_uri(url)
            raise source_error(SOURCE_BAD_URL, "Unsupported URL scheme; use https, http, data or storage.")
        except PhotostageError as error:
            raise for_field(error, field) from error

    @property
    def gate(self) -> AddressGate:
        """The connect-time address gate of this reader (its policy and resolver), shared with the
        storage connectors so every outbound connection is checked the same way."""
        return self._gate

    def check_endpoint(self, url: str) -> None:
        """Refuse a service endpoint (a web folder's base URL, an S3 endpoint) whose host
        resolves to a forbidden address, with the same rules as inputs."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise source_error(SOURCE_BAD_URL, "The endpoint must be an http(s) URL with a host.")
        self._gate.vetted_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))

    def _from_data_uri(self, url: str) -> bytes:
        if not self.policy.allow_data_uris:
            raise source_error(
                SOURCE_FORBIDDEN,
                "data: URIs are not allowed on this server (PHOTOSTAGE_SOURCES__ALLOW_DATA_URIS); "
                "send an https URL or a storage:// URI.",
            )
        return decode_data_uri(url, self.policy.max_bytes)

    def _from_storage(self, url: str, field: str | None) -> bytes:
        if self._read_storage is None:
            error = source_error(SOURCE_BAD_URL, "storage:// URLs cannot be read here.")
            raise for_field(error, field)
        return self._read_storage(url)
