"""Values every process of one database must agree on, kept in the database (``cluster_settings``)
rather than in a file on one host's disk: the key tmp links are signed with (made once by whichever
process starts first), and a check value of the storage encryption key (the key itself never
goes into the database: a dump must not decrypt the credentials beside it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from photostage.db import Base, utcnow

TMP_SIGNING_KEY = "tmp-signing-key"
STORAGE_KEY_CHECK = "storage-key-check"
STORAGE_KEY_SETTING = "PHOTOSTAGE_STORAGE__ENCRYPTION_KEY"


class ClusterSetting(Base):
    __tablename__ = "cluster_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MisconfiguredError(RuntimeError):
    """This process's settings disagree with the rest of the fleet; the message names the setting."""


def shared_value(sessions: sessionmaker[Session], name: str, proposed: str) -> str:
    """The value stored under ``name``; ``proposed`` becomes it when there is none yet (the first
    process wins; the others read what it stored)."""
    with sessions() as session:
        existing = session.scalar(select(ClusterSetting.value).where(ClusterSetting.name == name))
    if existing is not None:
        return existing
    try:
        with sessions.begin() as session:
            session.add(ClusterSetting(name=name, value=proposed))
    except IntegrityError:
        pass  # another process stored one first: use it
    with sessions() as session:
        stored = session.scalar(select(ClusterSetting.value).where(ClusterSetting.name == name))
    assert stored is not None
    return stored


def tmp_signing_key(sessions: sessionmaker[Session], earlier: str | None = None) -> str:
    """The fleet's tmp signing key: stored in the database the first time (``earlier``, a key this
    host kept in a file before, keeps its links valid; else a new random one)."""
    return shared_value(sessions, TMP_SIGNING_KEY, earlier or secrets.token_urlsafe(32))


def key_check(key: str) -> str:
    return hmac.new(key.encode(), b"photostage storage key check v1", hashlib.sha256).hexdigest()


def check_storage_key(sessions: sessionmaker[Session], key: str, configured: bool) -> None:
    """Refuse a storage encryption key other than the one the database's credentials use."""
    stored = shared_value(sessions, STORAGE_KEY_CHECK, key_check(key))
    if hmac.compare_digest(stored, key_check(key)):
        return
    where = "is set to a different key" if configured else "is not set (this host made a key of its own)"
    raise MisconfiguredError(
        f"{STORAGE_KEY_SETTING} {where}: storage credentials in this database were encrypted with another "
        f"key. Set {STORAGE_KEY_SETTING} to the same value on every host of this database (on the first host, "
        "its value is in the data directory: secrets/storage-key)."
    )
