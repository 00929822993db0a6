"""A web folder: objects are URLs under ``base_url``, read by GET and (when allowed) written by PUT.

Every request goes through the SSRF guard at connect time (the ``gate``; the strictest one when
none is given): reads through the project's guarded reader when one is given (``fetch``, which
also caps the size and follows redirects hop by hop, each checked), everything else (and reads
without ``fetch``) through an httpx client on :class:`~photostage.sources.guard.GuardedTransport`,
redirects off. Writes are a single PUT, so the server stores the whole object or nothing.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from urllib.parse import quote, unquote, urlsplit

import httpx

from photostage.contract.errors import FORBIDDEN, SOURCE_FORBIDDEN, SOURCE_UNREACHABLE, PhotostageError
from photostage.sources.guard import AddressGate, Deadline, GuardedTransport
from photostage.storage.base import (
    StoredObject,
    endpoint_refused,
    missing,
    read_failed,
    strict_gate,
    too_large,
    write_failed,
)
from photostage.storage.uri import join_key, safe_path, storage_uri

MISSING_STATUSES = frozenset({404, 410})
Failure = Callable[[str, str, BaseException | str], PhotostageError]


class WebFolderConnector:
    type = "web_folder"

    def __init__(
        self,
        name: str,
        base_url: str,
        allow_write: bool = False,
        fetch: Callable[[str], bytes] | None = None,
        timeout_s: float = 20.0,
        gate: AddressGate | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http or https URL")
        self.name = name
        self.base_url = base_url
        self.allow_write = allow_write
        self.bucket = parts.netloc
        self.prefix = unquote(parts.path).strip("/")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._fetch = fetch
        self._timeout_s = timeout_s
        self._gate = gate or strict_gate()
        self._tls = tls_context

    def url(self, path: str) -> str:
        key = join_key(self.prefix, safe_path(path))
        return f"{self._origin}/{quote(key, safe='/')}"

    def _client(self) -> httpx.Client:
        """A client whose connections the guard vets at connect time, within one time budget."""
        transport = GuardedTransport(
            self._gate, Deadline.after(self._timeout_s), self._tls or httpx.create_ssl_context()
        )
        return httpx.Client(transport=transport, timeout=self._timeout_s, follow_redirects=False)

    @contextlib.contextmanager
    def _connection(self, path: str, failed: Failure) -> Iterator[None]:
        """Transport failures as storage errors: the guard's refusal is STORAGE_FORBIDDEN (nothing
        was sent), a name that does not resolve and other HTTP errors are ``failed``."""
        try:
            yield
        except httpx.HTTPError as exc:
            raise failed(self.name, path, exc) from exc
        except PhotostageError as exc:
            if exc.kind is SOURCE_FORBIDDEN:
                raise endpoint_refused(self.name, exc) or exc from exc
            if exc.kind is SOURCE_UNREACHABLE:
                raise failed(self.name, path, "the host name could not be resolved") from exc
            raise

    def read(self, path: str, max_bytes: int) -> bytes:
        url = self.url(path)
        if self._fetch is not None:
            try:
                data = self._fetch(url)
            except PhotostageError as exc:
                refused = endpoint_refused(self.name, exc) if exc.kind is SOURCE_FORBIDDEN else None
                raise (refused or exc) from exc
            if len(data) > max_bytes:
                raise too_large(self.name, path, max_bytes)
            return data
        with self._connection(path, read_failed), self._client() as client, client.stream("GET", url) as response:
            if response.status_code in MISSING_STATUSES:
                raise missing(self.name, path)
            if response.status_code != 200:
                raise read_failed(self.name, path, f"HTTP {response.status_code}")
            return self._capped_body(response, path, max_bytes)

    def _capped_body(self, response: httpx.Response, path: str, max_bytes: int) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large(self.name, path, max_bytes)
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise too_large(self.name, path, max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    def _require_write(self, path: str) -> None:
        if not self.allow_write:
            raise PhotostageError(
                FORBIDDEN,
                message=f"Storage {self.name!r} is a read-only web folder; cannot write "
                f"{storage_uri(self.name, path)} (set parameters.allow_write to write by PUT).",
            )

    def write(self, path: str, data: bytes, content_type: str) -> StoredObject:
        url = self.url(path)
        self._require_write(path)
        with self._connection(path, write_failed), self._client() as client:
            response = client.put(url, content=data, headers={"content-type": content_type})
        if not 200 <= response.status_code < 300:
            raise write_failed(self.name, path, f"HTTP {response.status_code}")
        return StoredObject(
            bucket=self.bucket,
            key=join_key(self.prefix, path),
            object_uri=url,
            storage_uri=storage_uri(self.name, path),
        )

    def exists(self, path: str) -> bool:
        url = self.url(path)
        with self._connection(path, read_failed), self._client() as client:
            response = client.head(url)
        if response.status_code in MISSING_STATUSES:
            return False
        if response.status_code != 200:
            raise read_failed(self.name, path, f"HTTP {response.status_code}")
        return True

    def delete(self, path: str) -> None:
        url = self.url(path)
        self._require_write(path)
        with self._connection(path, write_failed), self._client() as client:
            response = client.delete(url)
        if response.status_code in MISSING_STATUSES:
            return
        if not 200 <= response.status_code < 300:
            raise write_failed(self.name, path, f"HTTP {response.status_code}")
