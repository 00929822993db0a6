"""Decoding ``data:`` URIs (RFC 2397) with the same byte cap as downloads.

The encoded length is checked before decoding, so an oversized URI is refused without first
building its decoded copy in memory.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes

from photostage.contract.errors import SOURCE_BAD_URL, SOURCE_TOO_LARGE, PhotostageError
from photostage.sources.errors import source_error

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")
_PARAMETER = re.compile(rf"{_TOKEN}=[^;,]*")
_WHITESPACE = re.compile(r"\s+")
_WHITESPACE_CHARS = (" ", "\n", "\r", "\t", "\f", "\v")


def _is_valid_header(header: str) -> bool:
    """``[<mediatype>][;param=value]*[;base64]`` with the ``;base64`` marker already removed."""
    media_type, *parameters = header.split(";") if header else [""]
    if media_type and not _MEDIA_TYPE.fullmatch(media_type):
        return False
    return all(_PARAMETER.fullmatch(parameter) for parameter in parameters)


def _base64_text(payload: str) -> str:
    """The base64 alphabet text: percent-decoded when the URI was percent-encoded, unwrapped."""
    if "%" in payload:
        payload = unquote_to_bytes(payload).decode("ascii", "replace")
    if not any(space in payload for space in _WHITESPACE_CHARS):
        return payload  # the common case, a long unwrapped line: skip the regex pass
    return _WHITESPACE.sub("", payload)


def _decode_base64(payload: str, max_bytes: int) -> bytes:
    text = _base64_text(payload)
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise _too_large(max_bytes)
    if len(text) % 4 == 1:
        raise source_error(SOURCE_BAD_URL, "The data URI is not valid base64.")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise source_error(SOURCE_BAD_URL, "The data URI is not valid base64.") from error


def _too_large(max_bytes: int) -> PhotostageError:
    return source_error(SOURCE_TOO_LARGE, f"The data URI holds more than {max_bytes} bytes.")


def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """The bytes of ``data:[<mediatype>][;base64],<data>``; base64 or percent-encoded data."""
    if uri[:5].lower() != "data:" or "," not in uri:
        message = "The data URI is malformed: expected data:[<type>][;base64],<data>."
        raise source_error(SOURCE_BAD_URL, message)
    header, payload = uri[5:].split(",", 1)
    is_base64 = header.lower().endswith(";base64")
    if is_base64:
        header = header[: -len(";base64")]
    if not _is_valid_header(header):
        raise source_error(SOURCE_BAD_URL, "The data URI has a malformed media type.")
    # A coarse bound first (percent-encoded base64, the costliest ordinary form, spends 4
    # characters per byte), so a huge URI is refused before any decoded copy is made.
    if len(payload) > 4 * max_bytes + 16:
        raise _too_large(max_bytes)
    try:
        data = _decode_base64(payload, max_bytes) if is_base64 else unquote_to_bytes(payload)
    except UnicodeError as error:  # lone surrogates cannot be percent-decoded
        raise source_error(SOURCE_BAD_URL, "The data URI holds invalid characters.") from error
    if not data:
        raise source_error(SOURCE_BAD_URL, "The data URI holds no data.")
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data
