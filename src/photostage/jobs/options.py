"""The timings of the job system in one frozen value, built from ``settings.jobs``.

``JobsSettings`` carries what an operator sets, copied by name (every setting has its field
here); the rest has defaults that suit production and are overridden in tests and by the
``photostage worker`` options (``--lease-s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from photostage.config import JobsSettings

DAY_S = 24 * 3600


@dataclass(frozen=True)
class JobOptions:
    """``lease_s``: how long a worker owns a job without renewing it (renewed every third of it);
    a job whose lease ran out is handed to another worker. ``max_attempts``: how many workers may
    start a job before it is given up (a job that kills its worker every time). ``poll_s``: how
    often the background loops (lease reaper, webhook sender) look at the database.
    ``progress_interval_s``: progress is written at most this often (a short job writes only its
    start and its end; a cancel is noticed at the next write or heartbeat).
    ``webhook_backoff_s``: the first retry delay of a webhook, doubled at every attempt up to
    ``webhook_backoff_cap_s``. ``undispatched_grace_s``: an ACCEPTED job whose queue message was
    never sent (the API died in between) is sent again after this long; one still ACCEPTED
    ``redispatch_after_s`` after its message was sent (the message was lost: a Redis restart
    without persistence, a worker that failed before taking the job) is sent once more."""

    runner: str = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue: str = "photostage"
    local_workers: int = 1
    max_queue: int = 1000
    lease_s: float = 30.0
    max_attempts: int = 5
    poll_s: float = 1.0
    progress_interval_s: float = 0.25
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 5.0
    webhook_backoff_cap_s: float = 3600.0
    webhook_senders: int = 4
    idempotency_ttl_s: float = DAY_S
    visibility_timeout_s: float = 3600.0
    undispatched_grace_s: float = 30.0
    redispatch_after_s: float = 900.0
    redis_key_prefix: str = "photostage:"
    shutdown_grace_s: float = 30.0
    hung_margin_s: float = 60.0
    request_deadline_s: float = 300.0
    sync_claim_s: float = 10.0

    @classmethod
    def from_settings(cls, jobs: JobsSettings, request_deadline_s: float = 300.0) -> JobOptions:
        """Every ``settings.jobs`` value by its name (each one has its field here: a setting added
        there reaches the job system without another line), and the request deadline."""
        configured = {name: getattr(jobs, name) for name in type(jobs).model_fields}
        return cls(request_deadline_s=request_deadline_s, **configured)

    @property
    def heartbeat_s(self) -> float:
        return self.lease_s / 3

    def webhook_delay_s(self, attempts_made: int) -> float:
        """Exponential backoff: the wait after the ``attempts_made``-th failed attempt."""
        return min(self.webhook_backoff_cap_s, self.webhook_backoff_s * 2 ** max(0, attempts_made - 1))
