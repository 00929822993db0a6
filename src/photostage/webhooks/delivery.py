"""Webhooks: when a job ends, its JSON is POSTed to the key's or the request's webhook URL.

- The body is the job exactly as ``GET /v1/scene/create/async/{id}`` answers it; the header
  ``X-Photostage-Signature: t=<unix seconds>,v1=<hex>`` carries the time of sending and the
  HMAC-SHA256 of ``"<t>." + raw body`` under the account's webhook secret, so a receiver that
  checks ``t`` against its clock (:func:`verify`, tolerance 5 minutes) refuses a replayed request.
  Each attempt is signed afresh.
- The secret is one per account, made once and shown once (``PUT /v1/webhooks``, ``POST
  /v1/webhooks/secret``, ``photostage webhooks``). Nothing is ever signed with a secret the account
  has not been shown: a per-request ``webhook_url`` on an account without one is refused (422,
  saying how to make one), and the sender never makes one.
- Deliveries are rows of ``webhook_deliveries`` (the delivery log), written in the transaction
  that ends the job, and sent by a background sender (never by the job worker) with
  exponential backoff up to ``webhook_max_attempts``; a 2xx answer is a delivery.
- Targets go through the same SSRF guard as image sources, at connect time: loopback and private
  addresses only when allow-listed in ``settings.sources.allow_hosts``; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from photostage.contract.errors import PhotostageError, validation_error
from photostage.contract.jobs import WebhookDeliveryOut
from photostage.db import aware, rows_changed, utcnow
from photostage.sources.guard import AddressGate, Deadline, GuardedTransport, Resolver, system_resolver
from photostage.sources.http_fetch import host_of, parse_http_url
from photostage.sources.policy import SourcePolicy
from photostage.webhooks.models import DELIVERED, FAILED, PENDING, WebhookDelivery, WebhookSecret

log = logging.getLogger("photostage.webhooks")

SIGNATURE_HEADER = "X-Photostage-Signature"
USER_AGENT = "photostage-webhooks/0.1"
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
TOLERANCE_S = 300
NO_SECRET = (
    "This account has no webhook signing secret yet, and photostage signs webhooks only with a secret "
    "the account has seen. Make one with POST /v1/webhooks/secret (or PUT /v1/webhooks with a URL), "
    "keep the secret the answer shows, then send the request again."
)


class DeliveryOptions(Protocol):
    """The sender's timings (``photostage.jobs.options.JobOptions`` has them)."""

    @property
    def webhook_senders(self) -> int: ...
    @property
    def webhook_timeout_s(self) -> float: ...
    @property
    def webhook_max_attempts(self) -> int: ...
    @property
    def poll_s(self) -> float: ...

    def webhook_delay_s(self, attempts_made: int) -> float: ...


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},{SIGNATURE_VERSION}={signature(secret, timestamp, body)}"


def verify(
    secret: str, body: bytes, header_value: str, tolerance_s: int = TOLERANCE_S, now: float | None = None
) -> bool:
    """What a receiver does (README, "Verifying webhooks", has the same steps to copy): the
    timestamp must be within ``tolerance_s`` of now and one ``v1`` signature must match, compared
    in constant time. Anything malformed is simply not verified."""
    fields = [item.partition("=") for item in header_value.split(",")]
    stamps = [value for key, _, value in fields if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in fields if key.strip() == SIGNATURE_VERSION]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not candidates:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- secrets ------------------------------------------------------------------------------------


class WebhookSecrets:
    """One signing secret per account, kept in the database (it must sign, so it is not hashed)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def exists(self, account_id: int) -> bool:
        with self.sessions() as session:
            return session.get(WebhookSecret, account_id) is not None

    def rotate(self, account_id: int) -> str:
        """A new secret replacing any old one; the caller shows it once."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            row = session.get(WebhookSecret, account_id)
            if row is None:
                session.add(WebhookSecret(account_id=account_id, secret=secret, created_at=utcnow()))
            else:
                row.secret = secret
                row.created_at = utcnow()
        return secret

    def create_if_missing(self, account_id: int) -> str | None:
        """A new secret when the account has none (returned, to show once), else None. Atomic: of
        two callers racing on an account without a secret, one makes it (and shows it), the other
        gets None; neither replaces a secret someone was shown."""
        if self.exists(account_id):
            return None
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        try:
            with self.sessions.begin() as session:
                session.add(WebhookSecret(account_id=account_id, secret=secret, created_at=utcnow()))
        except IntegrityError:
            return None
        return secret

    def signing_secret(self, account_id: int) -> str | None:
        """The account's secret, or None: a secret is never made here, where nobody would see it."""
        with self.sessions() as session:
            row = session.get(WebhookSecret, account_id)
            return row.secret if row is not None else None

    def require(self, account_id: int, field: str = "webhook_url") -> None:
        """Refuse (422, saying how to make one) when the account has no secret to sign with."""
        if not self.exists(account_id):
            raise validation_error(field, NO_SECRET)


# --- targets ------------------------------------------------------------------------------------


def check_webhook_url(url: str, policy: SourcePolicy, field: str = "webhook_url") -> str:
    """Refuse a webhook URL that can never be posted to (bad syntax, scheme, credentials, a
    forbidden IP literal) when it is given; host names are checked again at connect time."""
    if len(url) > 4096:
        raise validation_error(field, "The URL is longer than 4096 characters.")
    try:
        target = parse_http_url(url, policy.allow_http)
        AddressGate(allow_list=policy.allow_list(), resolver=system_resolver).check_literal(host_of(target))
    except PhotostageError as error:
        raise validation_error(field, error.public_message) from error
    return url


@dataclass(frozen=True)
class PostOutcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class GuardedPoster:
    """POSTs a body to a URL through the SSRF guard, within one time budget."""

    def __init__(
        self,
        policy: SourcePolicy,
        timeout_s: float,
        resolver: Resolver | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.gate = AddressGate(allow_list=policy.allow_list(), resolver=resolver or system_resolver)
        self.ssl_context = tls_context or httpx.create_ssl_context()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostOutcome:
        try:
            target = parse_http_url(url, self.policy.allow_http)
            self.gate.check_literal(host_of(target))
            deadline = Deadline.after(self.timeout_s)
            with GuardedTransport(self.gate, deadline, self.ssl_context) as transport:
                request = httpx.Request(
                    "POST",
                    target,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": USER_AGENT,
                        **headers,
                    },
                )
                response = transport.handle_request(request)
                response.close()
                return PostOutcome(response.status_code, None)
        except PhotostageError as error:
            return PostOutcome(None, error.public_message)
        except httpx.HTTPError as error:
            return PostOutcome(None, f"{type(error).__name__}: {error}"[:500])


# --- the delivery log ---------------------------------------------------------------------------


def add_delivery(session: Session, job_id: str, account_id: int, event: str, url: str, payload: str) -> None:
    session.add(
        WebhookDelivery(
            job_id=job_id,
            account_id=account_id,
            event=event,
            url=url,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
    )


@dataclass(frozen=True)
class DueDelivery:
    id: int
    account_id: int
    event: str
    url: str
    payload: str
    attempts: int


class WebhookSender:
    """Sends due deliveries on its own threads; ``nudge`` after a job ends to send at once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        secrets_store: WebhookSecrets,
        poster: GuardedPoster,
        options: DeliveryOptions,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.secrets = secrets_store
        self.poster = poster
        self.options = options
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        # Told each attempt's outcome (delivered, retry, failed): the metrics count them.
        self.on_attempt: Callable[[str], None] = lambda outcome: None
        # Renders a stored payload at send time (its links on the sending process's public URL).
        self.render: Callable[[str], str] = lambda payload: payload

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.options.webhook_senders, thread_name_prefix="photostage-webhook")
        self._thread = threading.Thread(target=self._loop, name="photostage-webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.webhook_timeout_s + 5)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def nudge(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.options.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.send_due()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the sender
                log.exception("webhook pass failed")

    def send_due(self) -> int:
        """Send every delivery that is due now (on the pool when started); returns how many."""
        due = self.claim_due(self.options.webhook_senders * 4)
        if self._pool is None:
            for delivery in due:
                self.send(delivery)
            return len(due)
        for future in [self._pool.submit(self.send, delivery) for delivery in due]:
            future.result()
        return len(due)

    def claim_due(self, limit: int) -> list[DueDelivery]:
        now = self.clock()
        free = or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now)
        with self.sessions() as session:
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now, free)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            ).all()
            candidates = [
                DueDelivery(row.id, row.account_id, row.event, row.url, row.payload, row.attempts)
                for row in rows
            ]
        lease_until = now + timedelta(seconds=self.options.webhook_timeout_s + 30)
        claimed: list[DueDelivery] = []
        for delivery in candidates:
            with self.sessions.begin() as session:
                taken = rows_changed(session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == PENDING, free)
                    .values(lease_until=lease_until)
                    .execution_options(synchronize_session=False)
                ))
            if taken:
                claimed.append(delivery)
        return claimed

    def send(self, delivery: DueDelivery) -> bool:
        body = self.render(delivery.payload).encode()
        secret = self.secrets.signing_secret(delivery.account_id)
        if secret is None:  # not sent at all: unsigned or signed with an unseen secret, never
            reason = "not sent: the account has no webhook signing secret (POST /v1/webhooks/secret)"
            outcome = PostOutcome(None, reason)
            self._record(delivery, outcome)
            return False
        headers = {
            SIGNATURE_HEADER: sign(secret, body, int(aware(self.clock()).timestamp())),
            "X-Photostage-Event": delivery.event,
            "X-Photostage-Delivery": str(delivery.id),
        }
        outcome = self.poster.post(delivery.url, body, headers)
        self._record(delivery, outcome)
        return outcome.delivered

    def _record(self, delivery: DueDelivery, outcome: PostOutcome) -> None:
        now = self.clock()
        attempts = delivery.attempts + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "lease_until": None,
            "last_status_code": outcome.status_code,
        }
        if outcome.delivered:
            values.update(status=DELIVERED, delivered_at=now, last_error=None)
            self.on_attempt("delivered")
        else:
            values["last_error"] = (outcome.error or f"HTTP {outcome.status_code}")[:500]
            if attempts >= self.options.webhook_max_attempts:
                values["status"] = FAILED
                self.on_attempt("failed")
            else:
                self.on_attempt("retry")
                delay = self.options.webhook_delay_s(attempts)
                values["next_attempt_at"] = now + timedelta(seconds=delay)
            log.info("webhook delivery %s attempt %d failed: %s", delivery.id, attempts, values["last_error"])
        with self.sessions.begin() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def deliveries(self, job_id: str) -> list[WebhookDeliveryOut]:
        with self.sessions() as session:
            rows = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.job_id == job_id).order_by(WebhookDelivery.id)
            ).all()
            return [delivery_out(row) for row in rows]


def delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id,
        job_id=row.job_id,
        event=row.event,
        url=row.url,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=aware(row.next_attempt_at) if row.status == PENDING else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=aware(row.created_at),
        delivered_at=aware(row.delivered_at),
    )
