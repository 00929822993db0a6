"""Temporary results: files behind signed, expiring URLs (Claid's ``tmp_url``, kept 24 hours).

Where they live (``tmp.store``): a directory of this host (``local``, the single-host default), the
database (``database``, the default with a shared database: any API process serves what any
worker made) or a bucket (``s3``). The backends are :class:`TmpBlobs`; names, signatures and
expiry are the same for all.

A result without a destination is written under the tmp directory and served at
``{base_url}/v1/tmp/{name}?expires={unix}&signature={hex}``, the signature being
HMAC-SHA256 over the name and the expiry. The expiry is also the first field of the file name,
so a sweep needs no index and no sidecar files.

Refusals: a bad or missing signature is 403 FORBIDDEN (checked before anything touches the disk,
so it says nothing about existence); an expired link, a malformed name or a swept file is 404.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from photostage.config import Settings
from photostage.contract.errors import FORBIDDEN, NOT_FOUND, PhotostageError
from photostage.storage.local import TEMP_PREFIX, TEMP_SUFFIX, atomic_write

NAME_PATTERN = re.compile(
    r"(?P<expires>\d{1,12})-(?P<token>[0-9a-f]{16})-(?P<label>[A-Za-z0-9_-]{1,80})\.(?P<ext>[a-z0-9]{1,5})"
)
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")
EXTENSION_PATTERN = re.compile(r"[a-z0-9]{1,5}")
UNSAFE_LABEL_CHARS = re.compile(r"[^A-Za-z0-9-]+")
STALE_TEMP_AGE_S = 3600
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}


@dataclass(frozen=True)
class TmpObject:
    name: str
    url: str
    expires_at: datetime


def media_type_for(name: str) -> str:
    """The Content-Type to serve a tmp file with, from its extension."""
    return MEDIA_TYPES.get(name.rpartition(".")[2].lower(), "application/octet-stream")


def _label(request_id: str, index: int) -> str:
    slug = UNSAFE_LABEL_CHARS.sub("-", request_id).strip("-")[:64] or "result"
    return f"{slug}_{index}"


def _not_found(message: str) -> PhotostageError:
    return PhotostageError(NOT_FOUND, message=message)


class TmpBlobs(Protocol):
    """Where temporary results are kept, by name (names are unique and carry their expiry)."""

    def write(self, name: str, data: bytes) -> None: ...
    def read(self, name: str) -> bytes | None: ...
    def remove_token(self, token: str) -> None: ...
    def sweep(self, now: float) -> int: ...
    def check(self) -> None: ...


class TmpStore:
    def __init__(
        self,
        directory: Path,
        signing_key: str,
        ttl_s: int,
        base_url: str,
        clock: Callable[[], float] = time.time,
        blobs: TmpBlobs | None = None,
    ) -> None:
        """``blobs`` None: files in ``directory`` (this host only)."""
        if not signing_key:
            raise ValueError("the tmp signing key is empty")
        self.directory = Path(directory)
        self._key = signing_key.encode("utf-8")
        self.ttl_s = ttl_s
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.blobs = blobs

    def write(self, name: str, data: bytes) -> None:
        if self.blobs is not None:
            self.blobs.write(name, data)
        else:
            atomic_write(self.directory / name, data)

    def remove_token(self, token: str) -> None:
        """Remove the results whose name carries ``token`` (an earlier attempt of a job)."""
        if self.blobs is not None:
            self.blobs.remove_token(token)
            return
        if self.directory.is_dir():
            for earlier in self.directory.glob(f"*-{token}-*"):
                earlier.unlink(missing_ok=True)

    def check(self) -> None:
        """Raise when results cannot be written now (readiness)."""
        if self.blobs is not None:
            self.blobs.check()
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.directory} is not writable")

    def sign(self, name: str, expires: int) -> str:
        return hmac.new(self._key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, name: str, expires: int) -> str:
        return f"{self.base_url}/v1/tmp/{name}?expires={expires}&signature={self.sign(name, expires)}"

    def put(self, data: bytes, ext: str, request_id: str, index: int) -> TmpObject:
        """Write one result atomically and return its signed URL."""
        ext = ext.lower().lstrip(".")
        if not EXTENSION_PATTERN.fullmatch(ext):
            raise ValueError(f"bad extension {ext!r}")
        expires = int(self._clock()) + self.ttl_s
        name = f"{expires}-{secrets.token_hex(8)}-{_label(request_id, index)}.{ext}"
        self.write(name, data)
        return TmpObject(
            name=name, url=self.url(name, expires), expires_at=datetime.fromtimestamp(expires, UTC)
        )

    def _checked(self, name: str, expires: int, signature: str) -> None:
        match = NAME_PATTERN.fullmatch(name)
        if match is None:
            raise _not_found("No such temporary result.")
        if not SIGNATURE_PATTERN.fullmatch(signature) or not hmac.compare_digest(
            self.sign(name, expires), signature
        ):
            raise PhotostageError(FORBIDDEN, message="The temporary URL's signature is not valid.")
        if int(match["expires"]) != expires or expires <= self._clock():
            raise _not_found("This temporary result has expired.")

    def open(self, name: str, expires: int, signature: str) -> Path | bytes:
        """What a signed URL serves, after checking signature, expiry and name: the file (local
        store) or its bytes (database, bucket)."""
        self._checked(name, expires, signature)
        if self.blobs is not None:
            data = self.blobs.read(name)
            if data is None:
                raise _not_found("This temporary result has expired.")
            return data
        path = self.directory / name
        if not path.is_file():
            raise _not_found("This temporary result has expired.")
        return path

    def sweep(self, now: float | None = None) -> int:
        """Delete expired results and stale half-written files; returns how many went."""
        moment = self._clock() if now is None else now
        if self.blobs is not None:
            return self.blobs.sweep(moment)
        if not self.directory.is_dir():
            return 0
        removed = 0
        for entry in self.directory.iterdir():
            if self._expired(entry, moment):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def _expired(self, entry: Path, moment: float) -> bool:
        match = NAME_PATTERN.fullmatch(entry.name)
        if match is not None:
            return int(match["expires"]) <= moment
        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
            try:
                return entry.stat().st_mtime < moment - STALE_TEMP_AGE_S
            except FileNotFoundError:
                return False
        return False


def tmp_store_from_settings(
    settings: Settings, signing_key: str | None = None, blobs: TmpBlobs | None = None
) -> TmpStore:
    """``signing_key`` default: the configured one, else one kept in the data directory."""
    return TmpStore(
        directory=settings.tmp_dir,
        signing_key=signing_key or settings.secret("tmp-signing-key", settings.tmp.signing_key),
        ttl_s=settings.tmp.ttl_s,
        base_url=settings.server.base_url(),
        blobs=blobs,
    )


def expiry_of(name: str) -> int | None:
    match = NAME_PATTERN.fullmatch(name)
    return int(match["expires"]) if match is not None else None
