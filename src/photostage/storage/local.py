"""A storage on the server's own disk (server-wide connectors, e.g. the default ``local``).

Writes go to a temporary file in the target's directory, are flushed to disk, then renamed over
the target (``os.replace`` is atomic on POSIX), so readers never see half a file. Resolved paths
must stay under the root, which also refuses symlinks that point outside it.

A server-wide connector is shared by every account, each in a namespace of its own:
``<root>/accounts/<account id>/`` (:func:`account_connector`). ``storage://local/a.png`` of account
7 is ``<root>/accounts/7/a.png``; no path can name another namespace (paths are relative, without
``..``, resolved under the namespace, symbolic links included). Files of the root outside
``accounts/`` (written before namespaces existed, or put there by the operator) are the legacy
area: one account, the legacy owner, may read them (a read that misses its namespace falls back
to the legacy area); nobody writes there.
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


ACCOUNTS_DIR = "accounts"


def namespace_root(root: Path, account_id: int) -> Path:
    """The directory of ``account_id``'s objects in a server-wide connector rooted at ``root``."""
    return Path(root).expanduser().absolute() / ACCOUNTS_DIR / str(int(account_id))


def account_connector(name: str, root: Path, account_id: int, reads_legacy: bool) -> LocalConnector:
    """Account ``account_id``'s view of the server-wide connector ``name``: its namespace, and the
    legacy area (read-only) when it is the legacy owner."""
    base = Path(root).expanduser().absolute()
    return LocalConnector(
        name, namespace_root(base, account_id), bucket=base.name or "local", legacy_root=base if reads_legacy else None
    )


def legacy_entries(root: Path) -> list[Path]:
    """What lies in a server-wide connector's root outside the account namespaces."""
    base = Path(root).expanduser()
    if not base.is_dir():
        return []
    return sorted(entry for entry in base.iterdir() if entry.name != ACCOUNTS_DIR)


class LocalConnector:
    """Objects are files under ``root``; the bucket is the root directory's name unless given.
    ``legacy_root``: a read-only area that reads fall back to (see the module), never its
    ``accounts/`` folder."""

    type = "local"
    prefix = ""

    def __init__(self, name: str, root: Path, bucket: str | None = None, legacy_root: Path | None = None) -> None:
        self.name = name
        self.root = Path(root).expanduser().absolute()
        self.bucket = bucket or self.root.name or "local"
        self.legacy_root = Path(legacy_root).expanduser().absolute() if legacy_root is not None else None

    def _target(self, path: str) -> Path:
        safe_path(path)
        target = self.root / path
        resolved_root = self.root.resolve()
        if not target.resolve().is_relative_to(resolved_root):
            raise bad_path(path, "the path leaves the storage (symbolic link)")
        return target

    def _legacy_target(self, path: str) -> Path | None:
        """Where ``path`` is in the legacy area, or None (no legacy area, a path into the account
        namespaces, or one that resolves outside the legacy area or into the namespaces)."""
        if self.legacy_root is None or path.split("/", 1)[0] == ACCOUNTS_DIR:
            return None
        target = self.legacy_root / path
        resolved, base = target.resolve(), self.legacy_root.resolve()
        if not resolved.is_relative_to(base) or resolved.is_relative_to(base / ACCOUNTS_DIR):
            return None
        return target

    def read(self, path: str, max_bytes: int) -> bytes:
        target = self._target(path)
        if not target.is_file():
            legacy = self._legacy_target(path)
            if legacy is not None and legacy.is_file():
                target = legacy
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
        if self._target(path).is_file():
            return True
        legacy = self._legacy_target(path)
        return legacy is not None and legacy.is_file()

    def delete(self, path: str) -> None:
        target = self._target(path)
        try:
            target.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise write_failed(self.name, path, exc) from exc
