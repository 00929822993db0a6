"""A storage on the server's own disk (server-wide connectors, e.g. the default ``local``).

Writes go to a temporary file in the target's directory, are flushed to disk, then renamed over
the target (``os.replace`` is atomic on POSIX), so readers never see half a file. Resolved paths
must stay under the root, which also refuses symlinks that point outside it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from photostage.storage.base import StoredObject, missing, read_failed, too_large, write_failed
from photostage.storage.uri import bad_path, safe_path, storage_uri

TEMP_PREFIX = ".photostage-"
TEMP_SUFFIX = ".part"


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary sibling and a rename; no half files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp_path.chmod(0o644)
        os.replace(temp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        raise


class LocalConnector:
    """Objects are files under ``root``; the bucket is the root directory's name."""

    type = "local"
    prefix = ""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = Path(root).expanduser().absolute()
        self.bucket = self.root.name or "local"

    def _target(self, path: str) -> Path:
        safe_path(path)
        target = self.root / path
        resolved_root = self.root.resolve()
        if not target.resolve().is_relative_to(resolved_root):
            raise bad_path(path, "the path leaves the storage (symbolic link)")
        return target

    def read(self, path: str, max_bytes: int) -> bytes:
        target = self._target(path)
        try:
            with target.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size > max_bytes:
                    raise too_large(self.name, path, max_bytes)
                data = handle.read(max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise missing(self.name, path) from None
        except OSError as exc:
            raise read_failed(self.name, path, exc) from exc
        if len(data) > max_bytes:
            raise too_large(self.name, path, max_bytes)
        return data

    def write(self, path: str, data: bytes, content_type: str) -> StoredObject:
        """``content_type`` is not kept: a file's type is its extension."""
        target = self._target(path)
        try:
            atomic_write(target, data)
        except OSError as exc:
            raise write_failed(self.name, path, exc) from exc
        return StoredObject(
            bucket=self.bucket,
            key=path,
            object_uri=target.absolute().as_uri(),
            storage_uri=storage_uri(self.name, path),
        )

    def exists(self, path: str) -> bool:
        return self._target(path).is_file()

    def delete(self, path: str) -> None:
        target = self._target(path)
        try:
            target.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise write_failed(self.name, path, exc) from exc
