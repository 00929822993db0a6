"""The one protocol every storage connector implements, and the errors they share.

A connector reads and writes objects by a path relative to its own prefix. Writes are atomic:
a reader sees the old object or the new one, never a half-written file (temp + rename locally,
a single PUT remotely). Failures surface as :class:`PhotostageError` with storage codes and
messages that never carry credentials or third-party exception text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from photostage.contract.errors import (
    SOURCE_TOO_LARGE,
    STORAGE_FORBIDDEN,
    STORAGE_OBJECT_MISSING,
    STORAGE_READ_FAILED,
    STORAGE_WRITE_FAILED,
    PhotostageError,
)
from photostage.sources.addresses import AllowList
from photostage.sources.guard import AddressGate, system_resolver
from photostage.sources.stacks import refusal_in
from photostage.storage.uri import storage_uri

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredObject:
    """Where a written object landed, in the words of Claid's response fields.

    ``bucket`` → ``object_bucket``, ``key`` → ``object_key`` (prefix included), ``object_uri``
    (``s3://bucket/key``, ``gs://...``, ``file://...``, ``https://...``), ``storage_uri``
    (``storage://name/path``) → ``claid_storage_uri``.
    """

    bucket: str
    key: str
    object_uri: str
    storage_uri: str


@runtime_checkable
class Connector(Protocol):
    name: str
    type: str
    bucket: str
    prefix: str

    def read(self, path: str, max_bytes: int) -> bytes:
        """The object's bytes; SOURCE_TOO_LARGE past ``max_bytes``, STORAGE_OBJECT_MISSING if absent."""
        ...

    def write(self, path: str, data: bytes, content_type: str) -> StoredObject:
        """Store ``data`` atomically at ``path``, replacing what was there."""
        ...

    def exists(self, path: str) -> bool: ...

    def delete(self, path: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...


def missing(name: str, path: str) -> PhotostageError:
    return PhotostageError(
        STORAGE_OBJECT_MISSING, message=f"No object at {storage_uri(name, path)}.", details={"path": [path]}
    )


def too_large(name: str, path: str, max_bytes: int) -> PhotostageError:
    return PhotostageError(
        SOURCE_TOO_LARGE,
        message=f"The object at {storage_uri(name, path)} is larger than {max_bytes} bytes.",
    )


def read_failed(name: str, path: str, cause: BaseException | str) -> PhotostageError:
    """Names the failure's class (or a short reason of ours), never the third-party message,
    which may echo request headers or signed URLs."""
    reason = cause if isinstance(cause, str) else type(cause).__name__
    if not isinstance(cause, str):
        logger.warning("storage read of %s failed", storage_uri(name, path), exc_info=cause)
    return PhotostageError(
        STORAGE_READ_FAILED, message=f"The object at {storage_uri(name, path)} could not be read ({reason})."
    )


def write_failed(name: str, path: str, cause: BaseException | str) -> PhotostageError:
    reason = cause if isinstance(cause, str) else type(cause).__name__
    if not isinstance(cause, str):
        logger.warning("storage write of %s failed", storage_uri(name, path), exc_info=cause)
    return PhotostageError(
        STORAGE_WRITE_FAILED,
        message=f"The object at {storage_uri(name, path)} could not be written ({reason}).",
    )


def strict_gate() -> AddressGate:
    """The address gate of a connector given none: system DNS, no private address allowed."""
    return AddressGate(allow_list=AllowList.parse(()), resolver=system_resolver)


def operator_gate(endpoint_url: str | None) -> AddressGate:
    """The address gate of an endpoint the operator configured (the tmp bucket, ``tmp.s3``): its
    host may be private (a MinIO beside the server); any other address is vetted as strictly."""
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    return AddressGate(allow_list=AllowList.parse((host,) if host else ()), resolver=system_resolver)


def endpoint_refused(name: str, cause: BaseException) -> PhotostageError | None:
    """STORAGE_FORBIDDEN when the SSRF guard refused the connection behind ``cause`` (no request
    was sent), else None."""
    refusal = refusal_in(cause)
    if refusal is None:
        return None
    return PhotostageError(
        STORAGE_FORBIDDEN,
        message=f"Storage {name!r} was not contacted: {refusal.public_message}",
        details={"storage": [refusal.public_message]},
    )
