"""Where temporary results live when several hosts serve them: the database (``tmp_results``) or
a bucket of the operator's (any fsspec filesystem; S3-compatible by configuration)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from photostage.db import rows_changed
from photostage.storage.models import TmpResult
from photostage.storage.tmp import expiry_of


class DatabaseBlobs:
    """Results as rows (``tmp_results``): nothing to set up, shared by every process of the database.
    Suits the usual volume (a few MB per request, kept a day); use a bucket for large volumes."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def write(self, name: str, data: bytes) -> None:
        expires = expiry_of(name)
        with self.sessions.begin() as session:
            session.merge(TmpResult(name=name, data=data, expires_at=datetime.fromtimestamp(expires or 0, UTC)))

    def read(self, name: str) -> bytes | None:
        with self.sessions() as session:
            return session.scalar(select(TmpResult.data).where(TmpResult.name == name))

    def remove_token(self, token: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(TmpResult).where(TmpResult.name.like(f"%-{token}-%")))

    def sweep(self, now: float) -> int:
        with self.sessions.begin() as session:
            moment = datetime.fromtimestamp(now, UTC)
            return rows_changed(session.execute(delete(TmpResult).where(TmpResult.expires_at <= moment))) or 0

    def check(self) -> None:
        with self.sessions() as session:
            session.execute(text("SELECT 1"))


class BucketBlobs:
    """Results as objects under ``root`` (``bucket/prefix``) of an fsspec filesystem: one PUT each
    (atomic), read back by any API process. Pair it with a lifecycle rule that expires objects
    after tmp.ttl_s; the sweep removes them too."""

    def __init__(self, filesystem: Any, root: str, clock: Callable[[], float] | None = None) -> None:
        self.fs = filesystem
        self.root = root.strip("/")

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def write(self, name: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(name), data)

    def read(self, name: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self._path(name)))
        except FileNotFoundError:
            return None

    def _names(self) -> list[str]:
        try:
            return [posixpath.basename(path) for path in self.fs.ls(self.root, detail=False)]
        except FileNotFoundError:
            return []

    def remove_token(self, token: str) -> None:
        for name in self._names():
            if f"-{token}-" in name:
                self.fs.rm_file(self._path(name))

    def sweep(self, now: float) -> int:
        removed = 0
        for name in self._names():
            expires = expiry_of(name)
            if expires is not None and expires <= now:
                self.fs.rm_file(self._path(name))
                removed += 1
        return removed

    def check(self) -> None:
        bucket = self.root.split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise FileNotFoundError(f"the tmp bucket {bucket} does not answer or does not exist")
