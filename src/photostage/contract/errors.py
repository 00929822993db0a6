"""The one error class of photostage and the catalogue of its codes.

Every failure that reaches a client is a :class:`PhotostageError`; one handler renders it as
Claid's body ``{error_code, error_type, error_message, error_details}`` with its HTTP status.
Code never branches on exception text: it branches on ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

ErrorType = Literal[
    "auth", "general", "storage", "image", "validation", "scene", "billing", "user", "runtime_settings"
]


ClaidErrorType = Literal[
    "auth", "dlvr", "general", "le", "survey", "storage", "image", "user_settings", "user", "validation",
    "analytics", "scene", "billing", "web", "runtime_settings", "animation", "custom_models",
]


class HttpErrorDetails(BaseModel):
    """Claid's error body."""

    error_code: str
    error_type: ClaidErrorType
    error_message: str
    error_details: dict[str, list[str]] = Field(default_factory=dict)


ErrorBody = HttpErrorDetails


@dataclass(frozen=True)
class ErrorKind:
    code: str
    type: ErrorType
    status: int
    message: str


# The catalogue. Claid's known codes keep their numbers (111, 9000, 2001); the rest are ours,
# grouped by type: 1xx auth, 2xxx general, 3xxx image, 4xxx scene, 5xxx storage, 9xxx validation.
AUTH_REQUIRED = ErrorKind("111", "auth", 401, "Authorization is required.")
AUTH_INVALID = ErrorKind("112", "auth", 401, "The API key is invalid or revoked.")
FORBIDDEN = ErrorKind("113", "auth", 403, "This API key may not access that resource.")
RATE_LIMITED = ErrorKind("2001", "general", 429, "Too Many Requests. Rate limit exceeded.")
OVERLOADED = ErrorKind("2002", "general", 503, "The service is at capacity. Retry later.")
NOT_FOUND = ErrorKind("2004", "general", 404, "Not found.")
CONFLICT = ErrorKind("2009", "general", 409, "The request conflicts with an earlier one.")
DEADLINE = ErrorKind("2010", "general", 500, "The request ran past its deadline.")
CLIENT_CLOSED = ErrorKind("2011", "general", 499, "The client closed the connection before the scene was ready.")
INTERNAL = ErrorKind("2500", "general", 500, "Internal error. Quote the x-request-id header to support.")
PAYLOAD_TOO_LARGE = ErrorKind("2013", "general", 400, "The request body is too large.")
SOURCE_FORBIDDEN = ErrorKind("3001", "image", 400, "The image URL points to an address that is not allowed.")
SOURCE_UNREACHABLE = ErrorKind("3002", "image", 400, "The image could not be downloaded.")
SOURCE_TOO_LARGE = ErrorKind("3003", "image", 400, "The image file is larger than allowed.")
SOURCE_BAD_URL = ErrorKind("3004", "image", 400, "The image URL is not valid.")
IMAGE_UNSUPPORTED = ErrorKind("3010", "image", 400, "The file is not an image in a supported format.")
IMAGE_CORRUPT = ErrorKind("3011", "image", 400, "The image file is corrupt or truncated.")
IMAGE_TOO_MANY_PIXELS = ErrorKind("3012", "image", 400, "The image has more pixels than allowed.")
IMAGE_EMPTY_OBJECT = ErrorKind("3013", "image", 422, "No object was found in the image.")
CUTOUT_FAILED = ErrorKind("3020", "image", 422, "The product could not be cut out of this image.")
CUTOUT_UNCERTAIN = ErrorKind("3021", "image", 422, "The product could not be cut out of this photo reliably.")
MODEL_UNAVAILABLE = ErrorKind("4001", "scene", 422, "The requested model is not available on this server.")
SCENE_FAILED = ErrorKind("4002", "scene", 500, "The scene could not be rendered.")
RENDER_FAILED = ErrorKind("4003", "scene", 422, "The scene engine could not render this request.")
SCENE_OUT_OF_MEMORY = ErrorKind(
    "4004", "scene", 503, "The GPU ran out of memory for this scene. Retry later, or ask for fewer images."
)
SCENE_UNFAITHFUL = ErrorKind(
    "4005", "scene", 422, "The generated scene did not keep clear of the product's outline."
)
STORAGE_NOT_FOUND = ErrorKind("5001", "storage", 404, "No storage with that name.")
STORAGE_BAD_PATH = ErrorKind("5002", "storage", 422, "The storage path is not allowed.")
STORAGE_OBJECT_MISSING = ErrorKind("5003", "storage", 404, "No object at that storage path.")
STORAGE_WRITE_FAILED = ErrorKind("5004", "storage", 500, "The result could not be written to storage.")
STORAGE_READ_FAILED = ErrorKind("5005", "storage", 400, "The object could not be read from storage.")
DESTINATION_FAILED = ErrorKind("5006", "storage", 400, "The result could not be uploaded to the destination URL.")
STORAGE_FORBIDDEN = ErrorKind(
    "5007", "storage", 400, "The storage's endpoint points to an address this server may not connect to."
)
STORAGE_NAME_TAKEN = ErrorKind("5009", "storage", 409, "A storage with that name exists already.")
BILLING_NO_CREDITS = ErrorKind("6001", "billing", 402, "Not enough credits left for this request.")
VALIDATION = ErrorKind("9000", "validation", 422, "Request validation failed.")


@dataclass
class PhotostageError(Exception):
    """A failure with a public face: code, type, HTTP status, message and per-field details."""

    kind: ErrorKind
    message: str | None = None
    details: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.public_message)

    @property
    def code(self) -> str:
        return self.kind.code

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def public_message(self) -> str:
        return self.message or self.kind.message

    def body(self) -> HttpErrorDetails:
        return HttpErrorDetails(
            error_code=self.kind.code,
            error_type=self.kind.type,
            error_message=self.public_message,
            error_details=self.details,
        )


def validation_error(field_path: str, message: str) -> PhotostageError:
    """A 422 about one field, the shape pydantic's own validation errors are rendered in."""
    return PhotostageError(VALIDATION, details={field_path: [message]})


_UNION_TAGS = {"absolute", "original", "padding", "effect", "prompt", "template"}
_FORMAT_TAGS = {"jpeg", "png", "webp", "avif", "lossy", "lossless"}


def _is_type_segment(segment: object) -> bool:
    """pydantic puts union member names into error locations; they are not field names."""
    if not isinstance(segment, str):
        return False
    return (
        "[" in segment
        or segment.endswith("-form")  # request.TEXT_FORM / OBJECT_FORM
        or segment[:1].isupper()
        or segment in {"str", "int", "float", "bool", "dict", "list", "literal"}
    )


def field_path(loc: tuple[object, ...]) -> str:
    """``('scene', 'prompt', 'steps')`` → ``"scene.steps"``; list indices kept."""
    parts: list[str] = []
    tag_expected = False
    for position, segment in enumerate(loc):
        if segment == "body" and position == 0:
            continue
        if _is_type_segment(segment):
            continue
        if tag_expected and segment in _UNION_TAGS:
            tag_expected = False  # the union member's tag directly follows its field, once
            continue
        if parts and parts[-1] in ("format", "compression") and segment in _FORMAT_TAGS:
            continue  # output.format.webp.compression.lossy.quality → output.format.compression.quality
        tag_expected = len(parts) == 0 and segment in ("object", "scene")
        parts.append(str(segment))
    return ".".join(parts) or "body"


def details_from_validation(errors: Sequence[Mapping[str, object]]) -> dict[str, list[str]]:
    """Map pydantic's error list to Claid's ``error_details: {field.path: [messages]}``."""
    details: dict[str, list[str]] = {}
    for error in errors:
        raw_loc = error.get("loc", ())
        loc: tuple[object, ...] = tuple(raw_loc) if isinstance(raw_loc, list | tuple) else ()
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "Extra fields are not permitted."
        elif error.get("type") == "missing":
            message = "Field required."
        elif error.get("type") == "json_invalid":  # loc is ("body", <character offset>)
            offset = loc[1] if len(loc) > 1 else "?"
            context = error.get("ctx")
            reason = context.get("error", "decode error") if isinstance(context, dict) else "decode error"
            message = f"The body is not valid JSON ({reason} at character {offset})."
            loc = loc[:1]
        messages = details.setdefault(field_path(loc), [])
        if message not in messages:
            messages.append(message)
    return details
