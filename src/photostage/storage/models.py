"""The ``storages`` table: storages that accounts register through the storage API.

Public parameters (bucket, path, base_url, ...) are kept as JSON; credentials are kept only as a
Fernet token (:mod:`photostage.storage.crypto`), so a database dump does not hand out keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from photostage.db import Base, utcnow


class Storage(Base):
    __tablename__ = "storages"
    __table_args__ = (
        UniqueConstraint("account_id", "name", name="uq_storages_account_name"),
        {"sqlite_autoincrement": True},  # ids are never reused after a deletion (migration 0002)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credentials_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TmpResult(Base):
    """A temporary result kept in the database (``tmp.store=database``): served by any API process."""

    __tablename__ = "tmp_results"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
