"""Account-owned storages (the `/v1/storage/...` API's service layer) and ``storage://`` resolution.

An account sees its own storages and the server-wide connectors of ``settings.storage.connectors``
(e.g. ``local``), in each of which it has a namespace of its own (see ``storage.local``); its own
storages come first when names collide. Another account's storage id answers
exactly like an id that does not exist (404), so ids cannot be probed for existence; ids are never
reused after a deletion. Credentials are validated, encrypted and never returned: Out models
carry the access key only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from photostage.config import Settings
from photostage.contract.errors import (
    STORAGE_NAME_TAKEN,
    STORAGE_NOT_FOUND,
    VALIDATION,
    PhotostageError,
    details_from_validation,
    validation_error,
)
from photostage.contract.storage import (
    PARAMETERS_BY_TYPE,
    STORAGE_TYPES,
    CloudBaseStorage,
    CloudDetailedBaseStorage,
    CredentialsOut,
    GCPCredentials,
    GCSParameters_Pydantic,
    S3Parameters_Pydantic,
    StorageExtensionsOut,
    StorageIn_Pydantic,
    StorageInUpdate_Pydantic,
    StorageOut_Pydantic,
    StorageOutDetailed_Pydantic,
    WebFolderParameters_Pydantic,
)
from photostage.db import Account
from photostage.sources.guard import AddressGate
from photostage.storage.base import Connector, strict_gate
from photostage.storage.cloud import EXTRA_FOR_MODULE, GCSConnector, S3Connector, module_available
from photostage.storage.crypto import CredentialCipher
from photostage.storage.local import account_connector
from photostage.storage.models import Storage
from photostage.storage.web import WebFolderConnector

# The account id of the server's own operator: the local CLI (``photostage create``) runs as it,
# in namespace ``accounts/0``; it reads the legacy area too. Database ids start at 1.
OPERATOR_ACCOUNT = 0
MODULE_FOR_TYPE = {"web_folder": "httpx", "s3": "s3fs", "gcs": "gcsfs"}


def merge_credentials(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH of credentials: fields merge within one form (HMAC pair or service account key);
    switching forms replaces the old form entirely."""
    patch_is_key_file = "service_account_json" in patch
    old_is_key_file = "service_account_json" in old
    if patch_is_key_file != old_is_key_file and patch:
        return dict(patch)
    return {**old, **patch}


def merge_parameters(base: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    if patch is None:
        return dict(base)
    merged = {**base, **{key: value for key, value in patch.items() if key != "credentials"}}
    if "credentials" in patch:
        merged["credentials"] = merge_credentials(base.get("credentials") or {}, patch["credentials"] or {})
    return merged


def split_secrets(parameters: BaseModel) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Public parameters (JSON column) and credentials (encrypted column) of a validated model."""
    public = parameters.model_dump(exclude_none=True)
    credentials = public.pop("credentials", None)
    return public, credentials


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def validate_storage(name: str, storage_type: str, parameters: dict[str, Any]) -> StorageIn_Pydantic:
    try:
        return StorageIn_Pydantic.model_validate(
            {"name": name, "type": storage_type, "parameters": parameters}
        )
    except ValidationError as exc:
        raise PhotostageError(VALIDATION, details=details_from_validation(exc.errors())) from None


class StorageService:
    """CRUD of an account's storages, and the resolution of ``storage://<name>/`` to a connector.

    ``fetch`` is the project's SSRF-guarded reader handed to web folders; ``url_guard`` is called
    with every remote endpoint (web folder ``base_url``, s3 ``endpoint_url``) before a connector
    is built and raises to refuse it; ``gate`` is the connect-time address gate every connector's
    connections go through (the strictest one when None). A forbidden IP literal endpoint is
    refused already when the storage is created or changed.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        fetch: Callable[[str], bytes] | None = None,
        url_guard: Callable[[str], None] | None = None,
        gate: AddressGate | None = None,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._first_account: int | None = None
        self._settings = settings
        self._cipher = CredentialCipher(settings.secret("storage-key", settings.storage.encryption_key))
        self._fetch = fetch
        self._url_guard = url_guard

    # --- types --------------------------------------------------------------------------------

    def storage_types(self) -> list[str]:
        """The types an account may create here (``local`` is server-side only)."""
        return [kind for kind in STORAGE_TYPES if module_available(MODULE_FOR_TYPE[kind])]

    def _require_type(self, storage_type: str) -> None:
        if storage_type not in self.storage_types():
            extra = EXTRA_FOR_MODULE.get(MODULE_FOR_TYPE.get(storage_type, ""), storage_type)
            raise validation_error(
                "type",
                f"{storage_type} storages are not available on this server: its operator installs them with "
                f"pip install 'photostage[{extra}]' (`make run` installs every such extra)",
            )

    # --- CRUD ---------------------------------------------------------------------------------

    def list(self, account_id: int, extensions: bool = False) -> list[StorageOut_Pydantic]:
        with self._sessions() as session:
            rows = session.scalars(
                select(Storage).where(Storage.account_id == account_id).order_by(Storage.id)
            ).all()
            return [self._out(row, extensions) for row in rows]

    def create(
        self, account_id: int, body: StorageIn_Pydantic, extensions: bool = False
    ) -> StorageOutDetailed_Pydantic:
        self._require_type(body.type)
        self._refuse_forbidden_literal(body.parameters)
        public, credentials = split_secrets(body.parameters)
        with self._sessions() as session:
            self._refuse_taken_name(session, account_id, body.name, storage_id=None)
            row = Storage(
                account_id=account_id,
                name=body.name,
                type=body.type,
                parameters=public,
                credentials_encrypted=self._cipher.encrypt(credentials) if credentials else None,
            )
            session.add(row)
            self._commit(session, account_id, body.name)
            return self._out_detailed(row, extensions)

    def get(self, account_id: int, storage_id: int, extensions: bool = False) -> StorageOutDetailed_Pydantic:
        with self._sessions() as session:
            return self._out_detailed(self._owned(session, account_id, storage_id), extensions)

    def update(
        self, account_id: int, storage_id: int, body: StorageInUpdate_Pydantic, extensions: bool = False
    ) -> StorageOutDetailed_Pydantic:
        """PATCH: absent fields keep their values; parameters and credentials merge field by
        field; a change of ``type`` starts the parameters afresh (their shapes differ)."""
        with self._sessions() as session:
            row = self._owned(session, account_id, storage_id)
            name = body.name if body.name is not None else row.name
            storage_type = body.type if body.type is not None else row.type
            self._require_type(storage_type)
            base = self._full_parameters(row) if storage_type == row.type else {}
            patch = body.parameters.model_dump(exclude_unset=True) if body.parameters is not None else None
            storage = validate_storage(name, storage_type, merge_parameters(base, patch))
            self._refuse_forbidden_literal(storage.parameters)
            if name != row.name:
                self._refuse_taken_name(session, account_id, name, storage_id=row.id)
            public, credentials = split_secrets(storage.parameters)
            row.name = name
            row.type = storage_type
            row.parameters = public
            row.credentials_encrypted = self._cipher.encrypt(credentials) if credentials else None
            self._commit(session, account_id, name)
            return self._out_detailed(row, extensions)

    def delete(self, account_id: int, storage_id: int) -> None:
        with self._sessions() as session:
            session.delete(self._owned(session, account_id, storage_id))
            session.commit()

    # --- resolution ---------------------------------------------------------------------------

    def resolve(self, account_id: int, name: str) -> Connector:
        """The connector behind ``storage://<name>/``: the account's own storage first, then a
        server-wide connector; STORAGE_NOT_FOUND otherwise."""
        with self._sessions() as session:
            row = session.scalars(
                select(Storage).where(Storage.account_id == account_id, Storage.name == name)
            ).first()
            if row is not None:
                return self._connector(row)
        server_wide = self._settings.storage.connectors.get(name)
        if server_wide is not None:
            reads_legacy = account_id == OPERATOR_ACCOUNT or self.legacy_owner() == account_id
            return account_connector(name, server_wide.root, account_id, reads_legacy)
        raise PhotostageError(STORAGE_NOT_FOUND, message=f"No storage named {name!r}.")

    def legacy_owner(self) -> int | None:
        """The account that may read the legacy area of server-wide connectors: the configured one
        (0: none), else the first account (lowest id; accounts are never deleted, so it is kept)."""
        configured = self._settings.storage.legacy_owner
        if configured is not None:
            return configured or None
        if self._first_account is None:
            with self._sessions() as session:
                self._first_account = session.scalar(select(func.min(Account.id)))
        return self._first_account

    def _connector(self, row: Storage) -> Connector:
        parameters = PARAMETERS_BY_TYPE[row.type].model_validate(self._full_parameters(row))
        if isinstance(parameters, S3Parameters_Pydantic):
            self._guard(parameters.endpoint_url)
            return S3Connector(
                row.name,
                parameters.bucket,
                prefix=parameters.path,
                region=parameters.region,
                endpoint_url=parameters.endpoint_url,
                key=parameters.credentials.access_key,
                secret=parameters.credentials.secret_access_key,
                gate=self._gate,
            )
        if isinstance(parameters, GCSParameters_Pydantic):
            return GCSConnector(
                row.name,
                parameters.bucket,
                prefix=parameters.path,
                service_account_info=parameters.credentials.service_account_json,
                access_key=parameters.credentials.access_key,
                secret_access_key=parameters.credentials.secret_access_key,
                gate=self._gate,
            )
        if not isinstance(parameters, WebFolderParameters_Pydantic):
            raise TypeError(f"unknown storage type {row.type!r}")
        self._guard(parameters.base_url)
        return WebFolderConnector(
            row.name,
            parameters.base_url,
            allow_write=parameters.allow_write,
            fetch=self._fetch,
            timeout_s=self._settings.sources.timeout_s,
            gate=self._gate,
        )

    def _refuse_forbidden_literal(self, parameters: BaseModel) -> None:
        """An endpoint that names a forbidden IP literally can never be used: 422 when the storage
        is made. Host names are judged at every connection (their addresses change)."""
        for field in ("endpoint_url", "base_url"):
            url = getattr(parameters, field, None)
            host = urlsplit(url).hostname if isinstance(url, str) else None
            if not host:
                continue
            try:
                (self._gate or strict_gate()).check_literal(host)
            except PhotostageError as error:
                raise validation_error(f"parameters.{field}", error.public_message) from None

    def _guard(self, url: str | None) -> None:
        if url is not None and self._url_guard is not None:
            self._url_guard(url)

    # --- helpers ------------------------------------------------------------------------------

    def _owned(self, session: Session, account_id: int, storage_id: int) -> Storage:
        """The account's storage ``storage_id``; another account's is "not found", word for word.
        Ids are 64-bit database keys: any other integer names no storage (and must not reach the
        driver, which cannot even bind it)."""
        row = session.get(Storage, storage_id) if 0 < storage_id < 2**63 else None
        if row is None or row.account_id != account_id:
            raise PhotostageError(STORAGE_NOT_FOUND, message=f"No storage with id {storage_id}.")
        return row

    def _refuse_taken_name(
        self, session: Session, account_id: int, name: str, storage_id: int | None
    ) -> None:
        clash = session.scalars(
            select(Storage.id).where(Storage.account_id == account_id, Storage.name == name)
        ).first()
        if clash is not None and clash != storage_id:
            raise PhotostageError(
                STORAGE_NAME_TAKEN,
                message=f"A storage named {name!r} exists already.",
                details={"name": [name]},
            )

    def _commit(self, session: Session, account_id: int, name: str) -> None:
        """Commit; a unique-constraint race on the name is the same 409 as the early check."""
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            with self._sessions() as probe:
                self._refuse_taken_name(probe, account_id, name, storage_id=None)
            raise

    def _credentials(self, row: Storage) -> dict[str, Any]:
        return self._cipher.decrypt(row.credentials_encrypted) if row.credentials_encrypted else {}

    def _full_parameters(self, row: Storage) -> dict[str, Any]:
        parameters = dict(row.parameters)
        credentials = self._credentials(row)
        if credentials:
            parameters["credentials"] = credentials
        return parameters

    def _access_key(self, row: Storage) -> str:
        credentials = self._credentials(row)
        if row.type == "gcs":
            return GCPCredentials.model_validate(credentials).public_id()
        return str(credentials.get("access_key", ""))

    @staticmethod
    def _extensions(row: Storage) -> StorageExtensionsOut:
        return StorageExtensionsOut(
            region=row.parameters.get("region"), endpoint_url=row.parameters.get("endpoint_url"),
            allow_write=row.parameters.get("allow_write") if row.type == "web_folder" else None,
        )

    @staticmethod
    def _claid_parameters(row: Storage) -> dict[str, Any]:
        """The parameters Claid's response schema knows (extensions left out)."""
        if row.type == "web_folder":
            return {"base_url": row.parameters["base_url"], "allow_write": row.parameters.get("allow_write", False)}
        return {key: row.parameters[key] for key in ("path", "bucket") if key in row.parameters}

    def _out(self, row: Storage, extensions: bool = False) -> StorageOut_Pydantic:
        parameters: CloudBaseStorage | WebFolderParameters_Pydantic
        if row.type == "web_folder":
            parameters = WebFolderParameters_Pydantic.model_validate(self._claid_parameters(row))
        else:
            parameters = CloudBaseStorage.model_validate(self._claid_parameters(row))
        return StorageOut_Pydantic(
            id=row.id, name=row.name, type=row.type, parameters=parameters, created_at=aware(row.created_at),
            extensions=self._extensions(row) if extensions else None,
        )

    def _out_detailed(self, row: Storage, extensions: bool = False) -> StorageOutDetailed_Pydantic:
        parameters: CloudDetailedBaseStorage | WebFolderParameters_Pydantic
        if row.type == "web_folder":
            parameters = WebFolderParameters_Pydantic.model_validate(self._claid_parameters(row))
        else:
            parameters = CloudDetailedBaseStorage(
                **self._claid_parameters(row), credentials=CredentialsOut(access_key=self._access_key(row))
            )
        return StorageOutDetailed_Pydantic(
            id=row.id, name=row.name, type=row.type, parameters=parameters, created_at=aware(row.created_at),
            extensions=self._extensions(row) if extensions else None,
        )
