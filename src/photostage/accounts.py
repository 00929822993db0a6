"""Accounts and API keys. A key is shown once at creation; only its SHA-256 hash is stored.

Keys carry 256 bits of randomness, so a plain SHA-256 (not a slow password hash) is the right
tool: lookups stay O(1) per request and a stolen database reveals no usable key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from photostage.contract.errors import BILLING_NO_CREDITS, PhotostageError
from photostage.db import Account, ApiKey, rows_changed, utcnow

KEY_PREFIX = "ps_"
MAX_NAME_CHARS = 100  # key and account labels (the columns' size)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot label a key or an account, or None."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"a name must be 1 to {MAX_NAME_CHARS} characters"
    if not name.isprintable():
        return "a name may not contain control characters"
    return None


@dataclass(frozen=True)
class KeyInfo:
    id: int
    account_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked: bool


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account and the key used."""

    account_id: int
    key_id: int
    key_prefix: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(key.id, key.account_id, key.name, key.prefix, key.created_at, key.revoked_at is not None)


class KeyStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create(self, name: str = "default", account_id: int | None = None) -> tuple[str, KeyInfo]:
        """A new key (for a new account unless ``account_id`` is given): (secret shown once, info)."""
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        token = secrets.token_urlsafe(32)
        # The prefix names the key on the command line: never an option ("-x...") nor a key id.
        while token[0] == "-" or token[:8].isdigit():
            token = secrets.token_urlsafe(32)
        prefix = token[:8]
        secret = f"{KEY_PREFIX}{token}"
        with self.sessions.begin() as session:
            if account_id is None:
                account = Account(name=name)
                session.add(account)
                session.flush()
                account_id = account.id
            key = ApiKey(account_id=account_id, name=name, prefix=prefix, secret_hash=hash_key(secret))
            session.add(key)
            session.flush()
            return secret, _info(key)

    def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(KEY_PREFIX):
            return None
        with self.sessions() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_key(secret)))
            if key is None or key.revoked_at is not None:
                return None
            return Principal(account_id=key.account_id, key_id=key.id, key_prefix=key.prefix)

    def list(self) -> list[KeyInfo]:
        with self.sessions() as session:
            return [_info(key) for key in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, key_id_or_prefix: str) -> bool:
        with self.sessions.begin() as session:
            query = select(ApiKey).where(ApiKey.prefix == key_id_or_prefix)
            if key_id_or_prefix.isdigit():
                query = select(ApiKey).where(ApiKey.id == int(key_id_or_prefix))
            key = session.scalar(query)
            if key is None or key.revoked_at is not None:
                return False
            key.revoked_at = utcnow()
            return True

    def has_active_key(self) -> bool:
        with self.sessions() as session:
            return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None

    def webhook_url(self, key_id: int) -> str | None:
        with self.sessions() as session:
            key = session.get(ApiKey, key_id)
            return key.webhook_url if key else None

    def set_webhook_url(self, key_id_or_prefix: str, url: str | None) -> bool:
        with self.sessions.begin() as session:
            query = select(ApiKey).where(ApiKey.prefix == key_id_or_prefix)
            if key_id_or_prefix.isdigit():
                query = select(ApiKey).where(ApiKey.id == int(key_id_or_prefix))
            key = session.scalar(query)
            if key is None:
                return False
            key.webhook_url = url
            return True


class Credits:
    """Per-account image credits: reserved before work starts, refunded if the work fails."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def reserve(self, account_id: int, images: int) -> None:
        with self.sessions.begin() as session:
            result = session.execute(
                update(Account)
                .where(Account.id == account_id, Account.credits.is_not(None), Account.credits >= images)
                .values(credits=Account.credits - images)
            )
            if rows_changed(result):
                return
            left = session.scalar(select(Account.credits).where(Account.id == account_id))
        if left is not None:
            raise PhotostageError(
                BILLING_NO_CREDITS, details={"output.number_of_images": [f"{images} needed, {left} left"]}
            )

    def refund(self, account_id: int, images: int) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Account)
                .where(Account.id == account_id, Account.credits.is_not(None))
                .values(credits=Account.credits + images)
            )

    def set(self, account_id: int, credits: int | None) -> bool:
        with self.sessions.begin() as session:
            account = session.get(Account, account_id)
            if account is None:
                return False
            account.credits = credits
            return True

    def left(self, account_id: int) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(Account.credits).where(Account.id == account_id))
