"""``Idempotency-Key`` for both create endpoints: the same key with the same body gives the same
job (async) or the same response (sync); the same key with another body is a 409. Keys are
scoped per account and endpoint and kept for ``idempotency_ttl_s`` (a day).

Sync requests keep only successful responses: a request that failed may be retried with its
key. While the first request with a key is still running, a second one is a 409 (it cannot be
answered yet and must not run twice). The running request's claim lasts ``claim_s`` (seconds)
and its API process renews it every third of that (:meth:`IdempotencyStore.start`); when the
process dies the claim lapses within ``claim_s`` and a retry takes the key over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from photostage.contract.errors import CONFLICT, VALIDATION, PhotostageError
from photostage.db import Base, aware, rows_changed, utcnow

log = logging.getLogger("photostage.idempotency")

SYNC_SCOPE = "scene.create"
ASYNC_SCOPE = "scene.create.async"
MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"


class IdempotencyRecord(Base):
    """One ``Idempotency-Key`` of one account on one endpoint, kept for a day.

    ``fingerprint`` is the SHA-256 of the canonical request; a replay with another fingerprint is
    a 409. Async creates point at their job; sync creates keep the response body once done
    (``response_json`` is NULL while the first request is still running).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "scope", "key", name="uq_idempotency_account_scope_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # A pending sync request's hold on the key, renewed by its API process while it runs.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON: key order and spacing do not make two bodies differ."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise PhotostageError(
            VALIDATION, details={HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable characters"]}
        )
    return key


def conflict(message: str) -> PhotostageError:
    return PhotostageError(CONFLICT, message=message, details={HEADER: [message]})


@dataclass(frozen=True)
class SyncTicket:
    """A sync request's standing: ``replay`` holds the stored response of an earlier request;
    otherwise ``record_id`` is the pending record this request must complete or abandon."""

    record_id: int | None
    replay: dict[str, Any] | None


class IdempotencyStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ttl_s: float,
        clock: Callable[[], datetime] = utcnow,
        claim_s: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self.clock = clock
        self.claim_s = claim_s
        self._held: set[int] = set()  # pending sync records this process is working on
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # --- the claims this process holds ----------------------------------------------------------

    def start(self) -> None:
        """Renew this process's claims every third of ``claim_s`` until :meth:`stop`."""
        if self._keeper is not None:
            return
        self._stop.clear()
        self._keeper = threading.Thread(target=self._keep, name="photostage-idempotency-claims", daemon=True)
        self._keeper.start()

    def stop(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None

    def _keep(self) -> None:
        while not self._stop.wait(self.claim_s / 3):
            try:
                self.renew_held()
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the claim has slack
                log.warning("renewing idempotency claims failed", exc_info=True)

    def renew_held(self) -> int:
        with self._held_lock:
            held = list(self._held)
        if not held:
            return 0
        with self.sessions.begin() as session:
            return (
                rows_changed(session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.id.in_(held), IdempotencyRecord.response_json.is_(None))
                    .values(claimed_until=self.clock() + timedelta(seconds=self.claim_s))
                    .execution_options(synchronize_session=False)
                ))
                or 0
            )

    def _hold(self, record_id: int) -> None:
        with self._held_lock:
            self._held.add(record_id)

    def _release(self, record_id: int) -> None:
        with self._held_lock:
            self._held.discard(record_id)

    def find(
        self, session: Session, account_id: int, scope: str, key: str, digest: str
    ) -> IdempotencyRecord | None:
        """The live record of this key (an expired one is removed), or None; 409 when the key
        was used with another body."""
        record = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.account_id == account_id,
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
            )
        )
        if record is None:
            return None
        if aware(record.expires_at) <= self.clock():
            session.delete(record)
            session.flush()
            return None
        if record.fingerprint != digest:
            raise conflict("This Idempotency-Key was already used with a different request body.")
        return record

    def add(
        self, session: Session, account_id: int, scope: str, key: str, digest: str, job_id: str | None
    ) -> IdempotencyRecord:
        now = self.clock()
        record = IdempotencyRecord(
            account_id=account_id,
            scope=scope,
            key=key,
            fingerprint=digest,
            job_id=job_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.ttl_s),
        )
        session.add(record)
        session.flush()
        return record

    # --- sync endpoint ------------------------------------------------------------------------

    def begin_sync(self, account_id: int, key: str, digest: str, stale_after_s: float) -> SyncTicket:
        """``stale_after_s`` bounds a pending record that has no claim (one written before claims
        existed); a claimed one lapses ``claim_s`` after its holder last renewed it."""
        for _ in range(3):
            try:
                with self.sessions.begin() as session:
                    ticket = self._begin_sync(session, account_id, key, digest, stale_after_s)
            except IntegrityError:
                continue  # another request inserted this key between our read and write
            if ticket.record_id is not None:
                self._hold(ticket.record_id)
            return ticket
        raise conflict("A request with this Idempotency-Key is still in progress.")

    def _begin_sync(
        self, session: Session, account_id: int, key: str, digest: str, stale_after_s: float
    ) -> SyncTicket:
        now = self.clock()
        claim = now + timedelta(seconds=self.claim_s)
        record = self.find(session, account_id, SYNC_SCOPE, key, digest)
        if record is None:
            record = self.add(session, account_id, SYNC_SCOPE, key, digest, None)
            record.claimed_until = claim
            return SyncTicket(record.id, None)
        if record.response_json is not None:
            return SyncTicket(None, json.loads(record.response_json))
        held_until = aware(record.claimed_until)
        if held_until is None:  # written before claims existed: the old rule
            held_until = aware(record.created_at) + timedelta(seconds=stale_after_s)
        if held_until >= now:
            raise conflict(
                "A request with this Idempotency-Key is still in progress. Retry after it ends; if the "
                f"server handling it stopped, the key is released within {self.claim_s:g} s."
            )
        record.created_at = now
        record.claimed_until = claim
        return SyncTicket(record.id, None)

    def complete_sync(self, record_id: int, response: dict[str, Any]) -> None:
        with self.sessions.begin() as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is not None:
                record.response_json = json.dumps(response, separators=(",", ":"))
                record.claimed_until = None
        self._release(record_id)

    def abandon_sync(self, record_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
        self._release(record_id)

    # --- upkeep -------------------------------------------------------------------------------

    def sweep(self) -> int:
        with self.sessions.begin() as session:
            return (
                rows_changed(session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= self.clock())
                ))
                or 0
            )
