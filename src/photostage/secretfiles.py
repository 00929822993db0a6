"""Secrets generated once and kept in the data directory, safe when processes start together.

An API process and a worker starting on a fresh data directory must end up with the same key.
Check-then-write cannot promise that (both see no file, both write their own), so a secret is
written whole to a private temporary file first and then published with ``os.link``, which fails
when the name exists: exactly one process publishes, and every process (winner included) then
re-reads the published file and uses what it holds. A reader never sees half a secret, because
the name appears only once the content is complete and flushed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

SECRET_BYTES = 32


class SecretFileError(RuntimeError):
    """A secret file exists but cannot be used (empty, unreadable)."""


def new_secret() -> str:
    """A fresh random secret (URL-safe text, 256 bits)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def read_secret(path: Path) -> str:
    value = path.read_text().strip()
    if not value:
        raise SecretFileError(
            f"The secret file {path} is empty. Stop every photostage process, then remove it (a new "
            "secret is made) or restore it from the other hosts; see README, Security."
        )
    return value


def read_or_create_secret(path: Path) -> str:
    """The secret stored at ``path``, creating it exclusively (mode 0600) when absent."""
    if path.exists():
        return read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = new_secret()
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".new")
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp makes it 0600
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process published first: use theirs
            os.link(temp_name, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
    return read_secret(path)
