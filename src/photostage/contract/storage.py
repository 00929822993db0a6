"""The storage management API (`/v1/storage/...`), model by model.

Class names follow Claid's published components (``StorageIn_Pydantic``, ``S3Parameters_Pydantic``,
...) so the served OpenAPI document can be checked against the contract one component at a time.
``extra="forbid"`` everywhere. Claid's fields stay valid as published; fields marked *extension*
are photostage's own, all optional:

- s3 ``region`` and ``endpoint_url`` (any S3-compatible store: MinIO, R2, Ceph, ...);
- gcs ``credentials.service_account_json`` instead of the HMAC pair ``access_key`` /
  ``secret_access_key``;
- web_folder ``allow_write`` (results are written by HTTP PUT only when it is true).

A storage's ``type`` must match its ``parameters``: the parameters are validated by the model of
the declared type, never guessed from their shape (s3 and gcs parameters look alike).
Secrets never appear in an *Out* model: ``CredentialsOut`` carries the access key only.

The path rules of ``storage://<name>/<path>`` live here too (:func:`storage_path_problem`), so the
contract and the connectors refuse the same paths with the same words.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

StorageType = Literal["web_folder", "s3", "gcs"]
STORAGE_TYPES: tuple[str, ...] = StorageType.__args__  # type: ignore[attr-defined]
MAX_NAME_CHARS = 50
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 200
STORAGE_SCHEME = "storage://"

MAX_ACCESS_KEY_CHARS = 128  # AWS: 20, GCS HMAC: 61, R2: 32
MAX_SECRET_CHARS = 256  # AWS/GCS HMAC: 40, R2: 64
MAX_SERVICE_ACCOUNT_BYTES = 16 * 1024  # a real key file is about 2.4 KB
MAX_SERVICE_ACCOUNT_VALUE_CHARS = 8 * 1024  # the private key PEM, the longest field, is about 1.7 KB
MAX_SERVICE_ACCOUNT_FIELDS = 32
# Where google-auth posts a service account's signed assertion for a token (the key file's
# ``token_uri``): only Google's own endpoints, so a key file cannot send the server anywhere else.
GOOGLE_TOKEN_URIS = frozenset({"https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"})
GOOGLE_UNIVERSE_DOMAIN = "googleapis.com"

StorageName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
Bucket = Annotated[str, Field(min_length=1, max_length=255)]
AccessKey = Annotated[str, Field(min_length=1, max_length=MAX_ACCESS_KEY_CHARS)]
Secret = Annotated[str, Field(min_length=1, max_length=MAX_SECRET_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- path and name rules -------------------------------------------------------------------------


def _control_character(text: str) -> str | None:
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:  # controls, lone surrogates
            return f"U+{code:04X}"
    return None


def storage_path_problem(path: str, allow_folder: bool) -> str | None:
    """Why ``path`` may not name an object in a storage, or None when it may.

    A path is relative to the storage's own prefix: ``/``-separated, no empty, ``.`` or ``..``
    segments, no backslashes or control characters, at most 1024 bytes of UTF-8 and 200 bytes a
    segment (file systems stop at 255, and output names add `_{i}.{ext}`). Unicode is
    fine. With ``allow_folder`` a trailing ``/`` (a folder) and the empty path (the root) pass.
    """
    if allow_folder and path == "":
        return None
    if path == "":
        return "the path is empty"
    if len(path.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        return f"the path is longer than {MAX_KEY_BYTES} bytes of UTF-8"
    if path.startswith("/"):
        return "the path must be relative (no leading '/')"
    if "\\" in path:
        return "the path may not contain backslashes"
    control = _control_character(path)
    if control is not None:
        return f"the path may not contain control characters ({control})"
    body = path[:-1] if allow_folder and path.endswith("/") else path
    for segment in body.split("/"):
        if segment == "":
            return "the path may not contain empty segments ('//') or end with '/'"
        if segment in (".", ".."):
            return f"the path may not contain '{segment}' segments"
        if len(segment.encode("utf-8", errors="surrogatepass")) > MAX_SEGMENT_BYTES:
            return f"each path segment must be at most {MAX_SEGMENT_BYTES} bytes of UTF-8"
    return None


def storage_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a storage name (it must be addressable as ``storage://<name>/``)."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"the name must be 1 to {MAX_NAME_CHARS} characters"
    if name != name.strip():
        return "the name may not start or end with whitespace"
    if "/" in name or "\\" in name:
        return "the name may not contain '/' or '\\'"
    if name in (".", ".."):
        return f"the name may not be '{name}'"
    control = _control_character(name)
    if control is not None:
        return f"the name may not contain control characters ({control})"
    return None


def _check_name(value: str | None) -> str | None:
    if value is None:
        return None
    problem = storage_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _check_prefix(value: str | None) -> str | None:
    """The ``path`` parameter: a folder inside the bucket; surrounding slashes are dropped."""
    if value is None:
        return None
    prefix = value.strip("/")
    problem = storage_path_problem(prefix, allow_folder=True)
    if problem is not None:
        raise ValueError(problem)
    return prefix


def _check_bucket(value: str | None) -> str | None:
    if value is None:
        return None
    if "/" in value or value != value.strip() or _control_character(value) is not None:
        raise ValueError("a bucket name may not contain '/', control characters or surrounding spaces")
    return value


def _check_http_url(value: str | None, what: str) -> str | None:
    """An http(s) URL with a host and no user info (credentials would leak through Out models)."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} may not carry user information (user:password@)")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} may not carry a query or a fragment")
    return value


# --- credentials ---------------------------------------------------------------------------------


class AWSCredentials(_Strict):
    access_key: AccessKey
    secret_access_key: Secret


class AWSCredentialsUpdate(_Strict):
    access_key: AccessKey | None = None
    secret_access_key: Secret | None = None


def _parse_service_account(value: Any) -> Any:
    """Accept the key file's JSON as text or as an object; keep it as an object."""
    if isinstance(value, str):
        if len(value.encode()) > MAX_SERVICE_ACCOUNT_BYTES:
            raise ValueError(f"service_account_json is larger than {MAX_SERVICE_ACCOUNT_BYTES} bytes")
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError("service_account_json is not valid JSON") from exc
    return value


def _check_service_account(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A service account key file as Google issues it: a flat object of short strings, whose
    token endpoint and universe are Google's (google-auth would otherwise post there)."""
    if value is None:
        return None
    if len(json.dumps(value).encode()) > MAX_SERVICE_ACCOUNT_BYTES:
        raise ValueError(f"service_account_json is larger than {MAX_SERVICE_ACCOUNT_BYTES} bytes")
    if len(value) > MAX_SERVICE_ACCOUNT_FIELDS:
        raise ValueError(f"service_account_json has more than {MAX_SERVICE_ACCOUNT_FIELDS} fields")
    for key, field_value in value.items():
        if not isinstance(field_value, str):
            raise ValueError(f"service_account_json field {key[:64]!r} must be a string")
        if len(field_value) > MAX_SERVICE_ACCOUNT_VALUE_CHARS:
            raise ValueError(
                f"service_account_json field {key[:64]!r} is longer than {MAX_SERVICE_ACCOUNT_VALUE_CHARS} characters"
            )
    token_uri = value.get("token_uri")
    if token_uri is not None and token_uri not in GOOGLE_TOKEN_URIS:
        raise ValueError(
            "service_account_json token_uri must be Google's token endpoint "
            f"({' or '.join(sorted(GOOGLE_TOKEN_URIS))}); other token endpoints are not used"
        )
    universe = value.get("universe_domain")
    if universe is not None and universe != GOOGLE_UNIVERSE_DOMAIN:
        raise ValueError(f"service_account_json universe_domain must be {GOOGLE_UNIVERSE_DOMAIN}")
    missing = [key for key in ("client_email", "private_key") if not isinstance(value.get(key), str)]
    if missing:
        raise ValueError(f"service_account_json lacks {', '.join(missing)}")
    if value.get("type", "service_account") != "service_account":
        raise ValueError("service_account_json must be a service account key (type service_account)")
    return value


class GCPCredentials(_Strict):
    """Claid's HMAC pair, or (*extension*) a service account key file's JSON."""

    access_key: AccessKey | None = None
    secret_access_key: Secret | None = None
    service_account_json: dict[str, Any] | None = Field(
        None,
        description="Extension: a service account key (the JSON file, as an object or as text), "
        "instead of access_key/secret_access_key.",
    )

    _parse = field_validator("service_account_json", mode="before")(_parse_service_account)
    _check = field_validator("service_account_json")(_check_service_account)

    @model_validator(mode="after")
    def _one_form(self) -> GCPCredentials:
        hmac_given = self.access_key is not None or self.secret_access_key is not None
        if self.service_account_json is not None:
            if hmac_given:
                raise ValueError("give either access_key/secret_access_key or service_account_json, not both")
            return self
        if self.access_key is None or self.secret_access_key is None:
            raise ValueError("access_key and secret_access_key are required (or service_account_json)")
        return self

    def public_id(self) -> str:
        """The non-secret identity shown back to clients: the access key or the account email."""
        if self.service_account_json is not None:
            return str(self.service_account_json["client_email"])
        return str(self.access_key)


class GCPCredentialsUpdate(_Strict):
    access_key: AccessKey | None = None
    secret_access_key: Secret | None = None
    service_account_json: dict[str, Any] | None = None

    _parse = field_validator("service_account_json", mode="before")(_parse_service_account)
    _check = field_validator("service_account_json")(_check_service_account)


class CredentialsOut(_Strict):
    access_key: str


# --- parameters ----------------------------------------------------------------------------------


class _CloudChecks(_Strict):
    @field_validator("path", check_fields=False)
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _check_prefix(value)

    @field_validator("bucket", check_fields=False)
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        return _check_bucket(value)


class _S3Checks(_CloudChecks):
    @field_validator("endpoint_url", check_fields=False)
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return _check_http_url(value, "endpoint_url")


Region = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
EndpointUrl = Annotated[str, Field(min_length=1, max_length=2048)]


class S3Parameters_Pydantic(_S3Checks):  # noqa: N801 - Claid's component name
    path: str = ""
    bucket: Bucket
    credentials: AWSCredentials
    region: Region | None = Field(None, description="Extension: the bucket's region, e.g. eu-west-1.")
    endpoint_url: EndpointUrl | None = Field(
        None, description="Extension: an S3-compatible endpoint (MinIO, R2, ...), http(s) URL."
    )


class S3ParametersUpdate_Pydantic(_S3Checks):  # noqa: N801
    path: str | None = None
    bucket: Bucket | None = None
    credentials: AWSCredentialsUpdate | None = None
    region: Region | None = None
    endpoint_url: EndpointUrl | None = None


class GCSParameters_Pydantic(_CloudChecks):  # noqa: N801
    path: str = ""
    bucket: Bucket
    credentials: GCPCredentials


class GCSParametersUpdate_Pydantic(_CloudChecks):  # noqa: N801
    path: str | None = None
    bucket: Bucket | None = None
    credentials: GCPCredentialsUpdate | None = None


class WebFolderParameters_Pydantic(_Strict):  # noqa: N801
    base_url: Annotated[str, Field(min_length=1, max_length=4096)]
    allow_write: bool = Field(False, description="Extension: write results by HTTP PUT under base_url.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value, "base_url") or value


class CloudBaseStorage(_Strict):
    """Public parameters of an s3/gcs storage (no credentials): exactly Claid's, which allows no
    other field here; our extensions are in :class:`StorageExtensionsOut`."""

    path: str = ""
    bucket: str


class StorageExtensionsOut(BaseModel):
    """photostage's own storage fields, returned only to a client that asks with
    ``?extensions=true`` (a strict Claid client never sees them)."""

    region: str | None = Field(None, description="s3: the bucket's region.")
    endpoint_url: str | None = Field(None, description="s3: an S3-compatible endpoint (MinIO, R2, ...).")
    allow_write: bool | None = Field(None, description="web_folder: results are written by HTTP PUT.")


class CloudDetailedBaseStorage(CloudBaseStorage):
    credentials: CredentialsOut


ParametersIn = S3Parameters_Pydantic | GCSParameters_Pydantic | WebFolderParameters_Pydantic
ParametersUpdate = S3ParametersUpdate_Pydantic | GCSParametersUpdate_Pydantic | WebFolderParameters_Pydantic

PARAMETERS_BY_TYPE: dict[str, type[BaseModel]] = {
    "s3": S3Parameters_Pydantic,
    "gcs": GCSParameters_Pydantic,
    "web_folder": WebFolderParameters_Pydantic,
}
UPDATE_PARAMETERS_BY_TYPE: dict[str, type[BaseModel]] = {
    "s3": S3ParametersUpdate_Pydantic,
    "gcs": GCSParametersUpdate_Pydantic,
    "web_folder": WebFolderParameters_Pydantic,
}


def _other_type_fitting(
    value: dict[str, Any], declared: str, models: dict[str, type[BaseModel]]
) -> str | None:
    for storage_type, model in models.items():
        if storage_type == declared:
            continue
        try:
            model.model_validate(value)
        except ValidationError:
            continue
        return storage_type
    return None


def _validate_by_type(
    value: Any,
    handler: ValidatorFunctionWrapHandler,
    declared: object,
    models: dict[str, type[BaseModel]],
) -> Any:
    """Validate ``parameters`` with the model of the declared ``type`` (never by shape)."""
    model = models.get(declared) if isinstance(declared, str) else None
    if model is None or not isinstance(value, dict):
        return handler(value)
    try:
        return model.model_validate(value)
    except ValidationError:
        fitting = _other_type_fitting(value, declared, models)  # type: ignore[arg-type]
        if fitting is not None:
            raise ValueError(
                f"these parameters are those of type {fitting}, but type is {declared}"
            ) from None
        raise


# --- requests and responses ----------------------------------------------------------------------


class StorageIn_Pydantic(_Strict):  # noqa: N801
    name: StorageName
    type: StorageType
    parameters: ParametersIn

    _name = field_validator("name")(_check_name)

    @field_validator("parameters", mode="wrap")
    @classmethod
    def _parameters_match_type(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        return _validate_by_type(value, handler, info.data.get("type"), PARAMETERS_BY_TYPE)

    @model_validator(mode="after")
    def _type_matches(self) -> StorageIn_Pydantic:
        expected = PARAMETERS_BY_TYPE[self.type]
        if not isinstance(self.parameters, expected):
            raise ValueError(f"parameters do not match type {self.type}")
        return self


class StorageInUpdate_Pydantic(_Strict):  # noqa: N801
    """PATCH body: every field optional. Without ``type``, the parameters are checked against the
    stored storage's type by the service (the shape alone cannot tell s3 from gcs)."""

    name: StorageName | None = None
    type: StorageType | None = None
    parameters: ParametersUpdate | None = None

    _name = field_validator("name")(_check_name)

    @field_validator("parameters", mode="wrap")
    @classmethod
    def _parameters_match_type(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        return _validate_by_type(value, handler, info.data.get("type"), UPDATE_PARAMETERS_BY_TYPE)


EXTENSIONS_DESCRIPTION = "Extension, only with ?extensions=true: region, endpoint_url, allow_write."


class StorageOut_Pydantic(_Strict):  # noqa: N801
    id: int
    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)]
    type: StorageType
    parameters: CloudBaseStorage | WebFolderParameters_Pydantic
    created_at: datetime
    extensions: StorageExtensionsOut | None = Field(None, description=EXTENSIONS_DESCRIPTION)


class StorageOutDetailed_Pydantic(_Strict):  # noqa: N801
    id: int
    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)]
    type: StorageType
    parameters: CloudDetailedBaseStorage | WebFolderParameters_Pydantic
    created_at: datetime
    extensions: StorageExtensionsOut | None = Field(None, description=EXTENSIONS_DESCRIPTION)


class Response_StorageOutDetailed_Pydantic_(BaseModel):  # noqa: N801
    data: StorageOutDetailed_Pydantic


class Response_List_StorageOut_Pydantic_(BaseModel):  # noqa: N801
    """Claid's ``Response_List_apps.storage.serializers.StorageOut_Pydantic__``."""

    data: list[StorageOut_Pydantic]


class Response_List_StorageType_(BaseModel):  # noqa: N801
    """Claid's ``Response_List_apps.storage.models.StorageType__``."""

    data: list[StorageType]
