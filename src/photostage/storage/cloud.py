"""Bucket storages over fsspec: S3 and S3-compatible stores (s3fs), Google Cloud Storage (gcsfs).

A write is one ``PUT`` of the whole object (``pipe_file``), which object stores make visible all
at once, so a failed write leaves the previous object untouched. Reads check the object's size
before downloading it. Account storages never fall back to the server's own cloud credentials
(environment, instance metadata): without credentials a connector is anonymous.

Every connection goes through the SSRF guard at connect time (:mod:`photostage.sources.stacks`):
s3fs's aiohttp connector resolves through the ``gate`` and connects only to addresses it vetted,
gcsfs's likewise, and google-auth's token requests go through a guarded requests session. A
connection the guard refuses is never made; the storage answers STORAGE_FORBIDDEN saying why.
Without a ``gate`` a connector uses the strictest one (system DNS, nothing private allowed).

s3fs and gcsfs are optional extras (``photostage[s3]``, ``photostage[gcs]``); a missing one is a
clear 422 when such a storage is built, not an import error at start.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import Any

from photostage.contract.errors import PhotostageError, validation_error
from photostage.sources.guard import AddressGate
from photostage.sources.stacks import ConnectionAddressRefused, aiohttp_connector_args, guarded_requests_session
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

GCS_XML_ENDPOINT = "https://storage.googleapis.com"
EXTRA_FOR_MODULE = {"s3fs": "s3", "gcsfs": "gcs"}


def module_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require_module(module: str, storage_type: str) -> Any:
    """Import an optional backend library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRA_FOR_MODULE.get(module.split(".")[0], storage_type)
        raise validation_error(
            "type",
            f"{storage_type} storages need the '{extra}' extra on this server: "
            f"pip install 'photostage[{extra}]'",
        ) from None


def _s3_compatible_config(endpoint_url: str | None) -> dict[str, Any]:
    """Retries and timeouts bounded; checksums only when required, which non-AWS stores
    (GCS interoperability, older MinIO/R2) need since botocore 1.36."""
    config: dict[str, Any] = {
        "connect_timeout": 10,
        "read_timeout": 60,
        "retries": {"max_attempts": 3, "mode": "standard"},
    }
    if endpoint_url is not None:
        config["request_checksum_calculation"] = "when_required"
        config["response_checksum_validation"] = "when_required"
    return config


def make_s3_filesystem(
    key: str | None, secret: str | None, region: str | None, endpoint_url: str | None, gate: AddressGate
) -> Any:
    """An s3fs filesystem whose aiohttp connections resolve and connect through ``gate``."""
    s3fs = require_module("s3fs", "s3")
    client_kwargs: dict[str, Any] = {}
    if region is not None:
        client_kwargs["region_name"] = region
    connector_args = aiohttp_connector_args(gate, refusal=ConnectionAddressRefused)
    config = {**_s3_compatible_config(endpoint_url), "connector_args": connector_args}
    return s3fs.S3FileSystem(
        anon=key is None,
        key=key,
        secret=secret,
        endpoint_url=endpoint_url,
        client_kwargs=client_kwargs,
        config_kwargs=config,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def make_gcs_filesystem(
    service_account_info: dict[str, Any] | None, endpoint_url: str | None, gate: AddressGate
) -> Any:
    """A gcsfs filesystem whose aiohttp session connects through ``gate`` and whose token
    refreshes (google-auth, over requests) go through a guarded requests session."""
    core = require_module("gcsfs.core", "gcs")
    import aiohttp

    class GuardedGCSFileSystem(core.GCSFileSystem):  # type: ignore[name-defined]
        session_kwargs: dict[str, Any]

        async def _set_session(self) -> Any:
            if self._session is None:  # the connector binds the running loop: build it here
                connector = aiohttp.TCPConnector(**aiohttp_connector_args(gate))
                self.session_kwargs = {**self.session_kwargs, "connector": connector}
            return await super()._set_session()

    # gcsfs.core's class, not the package's default export: the latter probes bucket types over
    # gRPC (zonal/hierarchical buckets), which we do not use.
    filesystem = GuardedGCSFileSystem(
        token=service_account_info if service_account_info is not None else "anon",
        # "_" (any project) when the key names none: we never list or create buckets.
        project=(service_account_info or {}).get("project_id") or "_",
        endpoint_url=endpoint_url,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    credentials = filesystem.credentials
    credentials.maybe_refresh = functools.partial(_guarded_refresh, credentials, gate)
    return filesystem


def _guarded_refresh(credentials: Any, gate: AddressGate, refresh_buffer: float = 300.0) -> None:
    """gcsfs's ``GoogleCredentials.maybe_refresh`` with the token request sent through the guard
    (gcsfs opens a plain ``requests.Session`` for it)."""
    if credentials.credentials is None or credentials._credentials_valid(refresh_buffer):
        return
    from google.auth.transport.requests import Request

    with guarded_requests_session(gate) as session, credentials.lock:
        if not credentials._credentials_valid(refresh_buffer):
            credentials.credentials.refresh(Request(session))


class _BucketConnector:
    """The shared body of bucket connectors; subclasses build the filesystem."""

    type: str
    scheme: str

    def __init__(self, name: str, bucket: str, prefix: str, filesystem: Any, content_type_arg: str) -> None:
        """``filesystem`` is built with the connector's gate (see ``make_*_filesystem``)."""
        self.name = name
        self.bucket = bucket
        self.prefix = safe_path(prefix.strip("/"), allow_folder=True).rstrip("/")
        self.filesystem = filesystem
        self._content_type_arg = content_type_arg

    def _location(self, path: str) -> tuple[str, str]:
        key = join_key(self.prefix, safe_path(path))
        return key, f"{self.bucket}/{key}"

    def _is_file(self, path: str, location: str) -> tuple[bool, int]:
        try:
            info = self.filesystem.info(location)
        except FileNotFoundError:
            return False, 0
        except PhotostageError:
            raise
        except Exception as exc:  # third-party boundary: botocore, aiohttp, google-auth
            raise endpoint_refused(self.name, exc) or read_failed(self.name, path, exc) from exc
        return info.get("type") == "file", int(info.get("size") or 0)

    def read(self, path: str, max_bytes: int) -> bytes:
        _, location = self._location(path)
        is_file, size = self._is_file(path, location)
        if not is_file:
            raise missing(self.name, path)
        if size > max_bytes:
            raise too_large(self.name, path, max_bytes)
        if size == 0:
            return b""
        try:
            data = self.filesystem.cat_file(location)
        except FileNotFoundError:
            raise missing(self.name, path) from None
        except Exception as exc:
            raise endpoint_refused(self.name, exc) or read_failed(self.name, path, exc) from exc
        if len(data) > max_bytes:
            raise too_large(self.name, path, max_bytes)
        return bytes(data)

    def write(self, path: str, data: bytes, content_type: str) -> StoredObject:
        key, location = self._location(path)
        try:
            self.filesystem.pipe_file(location, data, **{self._content_type_arg: content_type})
        except Exception as exc:
            raise endpoint_refused(self.name, exc) or write_failed(self.name, path, exc) from exc
        return StoredObject(
            bucket=self.bucket,
            key=key,
            object_uri=f"{self.scheme}://{self.bucket}/{key}",
            storage_uri=storage_uri(self.name, path),
        )

    def exists(self, path: str) -> bool:
        _, location = self._location(path)
        return self._is_file(path, location)[0]

    def delete(self, path: str) -> None:
        _, location = self._location(path)
        try:
            self.filesystem.rm_file(location)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise endpoint_refused(self.name, exc) or write_failed(self.name, path, exc) from exc


class S3Connector(_BucketConnector):
    """Amazon S3 or any S3-compatible store (``endpoint_url``: MinIO, Cloudflare R2, Ceph...)."""

    type = "s3"
    scheme = "s3"

    def __init__(
        self,
        name: str,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        gate: AddressGate | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        filesystem = make_s3_filesystem(key, secret, region, endpoint_url, gate or strict_gate())
        super().__init__(name, bucket, prefix, filesystem, content_type_arg="ContentType")


class GCSConnector(_BucketConnector):
    """Google Cloud Storage. With a service account key: gcsfs on the JSON API. With Claid's HMAC
    pair (``access_key``/``secret_access_key``): GCS's S3-interoperable XML API through s3fs.
    With neither: anonymous (public buckets, or an emulator at ``endpoint_url``)."""

    type = "gcs"
    scheme = "gs"

    def __init__(
        self,
        name: str,
        bucket: str,
        prefix: str = "",
        service_account_info: dict[str, Any] | None = None,
        access_key: str | None = None,
        secret_access_key: str | None = None,
        endpoint_url: str | None = None,
        gate: AddressGate | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        gate = gate or strict_gate()
        if access_key is not None and secret_access_key is not None and service_account_info is None:
            filesystem = make_s3_filesystem(
                access_key, secret_access_key, "auto", endpoint_url or GCS_XML_ENDPOINT, gate
            )
            super().__init__(name, bucket, prefix, filesystem, content_type_arg="ContentType")
            return
        filesystem = make_gcs_filesystem(service_account_info, endpoint_url, gate)
        super().__init__(name, bucket, prefix, filesystem, content_type_arg="content_type")
