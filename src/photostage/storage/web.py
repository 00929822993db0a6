"""A web folder: objects are URLs under ``base_url``, read by GET and (when allowed) written by PUT.

Reads may go through the project's SSRF-guarded reader (``fetch``), which checks the address at
connect time and caps the size; without one, plain httpx is used with redirects off. Writes are a
single PUT, so the server stores the whole object or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

import httpx

from photostage.contract.errors import FORBIDDEN, PhotostageError
from photostage.storage.base import StoredObject, missing, read_failed, too_large, write_failed
from photostage.storage.uri import join_key, safe_path, storage_uri

MISSING_STATUSES = frozenset({404, 410})


class WebFolderConnector:
    type = "web_folder"

    def __init__(
        self,
        name: str,
        base_url: str,
        allow_write: bool = False,
        fetch: Callable[[str], bytes] | None = None,
        timeout_s: float = 20.0,
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

    def url(self, path: str) -> str:
        key = join_key(self.prefix, safe_path(path))
        return f"{self._origin}/{quote(key, safe='/')}"

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self._timeout_s, follow_redirects=False)

    def read(self, path: str, max_bytes: int) -> bytes:
        url = self.url(path)
        if self._fetch is not None:
            data = self._fetch(url)
            if len(data) > max_bytes:
                raise too_large(self.name, path, max_bytes)
            return data
        try:
            with self._client() as client, client.stream("GET", url) as response:
                if response.status_code in MISSING_STATUSES:
                    raise missing(self.name, path)
                if response.status_code != 200:
                    raise read_failed(self.name, path, f"HTTP {response.status_code}")
                return self._capped_body(response, path, max_bytes)
        except httpx.HTTPError as exc:
            raise read_failed(self.name, path, exc) from exc

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
        try:
            with self._client() as client:
                response = client.put(url, content=data, headers={"content-type": content_type})
        except httpx.HTTPError as exc:
            raise write_failed(self.name, path, exc) from exc
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
        try:
            with self._client() as client:
                response = client.head(url)
        except httpx.HTTPError as exc:
            raise read_failed(self.name, path, exc) from exc
        if response.status_code in MISSING_STATUSES:
            return False
        if response.status_code != 200:
            raise read_failed(self.name, path, f"HTTP {response.status_code}")
        return True

    def delete(self, path: str) -> None:
        url = self.url(path)
        self._require_write(path)
        try:
            with self._client() as client:
                response = client.delete(url)
        except httpx.HTTPError as exc:
            raise write_failed(self.name, path, exc) from exc
        if response.status_code in MISSING_STATUSES:
            return
        if not 200 <= response.status_code < 300:
            raise write_failed(self.name, path, f"HTTP {response.status_code}")
