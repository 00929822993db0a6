"""Building the public errors of source reading.

Messages say what went wrong in words a client can act on, never the URL itself (it may carry
signed query tokens) and never an address a host name resolved to (internal DNS is not public).
The caller knows which request field the URL came from; :func:`for_field` files the message
under that field path in the error's details.
"""

from __future__ import annotations

import dataclasses

from photostage.contract.errors import ErrorKind, PhotostageError


def source_error(kind: ErrorKind, message: str) -> PhotostageError:
    return PhotostageError(kind, message=message)


def for_field(error: PhotostageError, field: str | None) -> PhotostageError:
    """The same error with its message under ``field`` (e.g. ``object.image_url``) in details."""
    if not field:
        return error
    return dataclasses.replace(error, details={**error.details, field: [error.public_message]})
