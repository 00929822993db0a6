"""Per-key rate limits (Claid's defaults: 120 requests a minute and 4 a second) with the
`RateLimit-*` headers on every answer; the limits are per API key.

Two limiters give the same :class:`Decision`: sliding-window counters in memory per process
(:class:`RateLimiter`), and the same windows kept in Redis and shared by every API process
(:class:`RedisRateLimiter`, used with ``runner=celery``), computed by one Lua script so a
check-and-count is atomic across processes and machines; time is then Redis's own clock, so API
hosts need not agree on theirs. Both take an injectable clock (``clock``: seconds), so the
windows are tested by moving a fake clock, never by sleeping or by racing the machine.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from photostage.config import Settings
from photostage.jobs.options import JobOptions

if TYPE_CHECKING:
    import redis

log = logging.getLogger("photostage.api")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    policy: str

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": self.policy,
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_s))
        return headers


class RateLimiter:
    def __init__(self, per_minute: int, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.windows = ((per_minute, 60.0), (per_second, 1.0))
        self.policy = f"{per_minute}, {per_minute};w=60, {per_second};w=1"
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def check(self, key: str) -> Decision:
        now = self.clock()
        with self.lock:
            hits = self.hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            blocked_until = 0.0
            remaining = None
            for limit, window in self.windows:
                in_window = [t for t in hits if t > now - window] if window < 60 else hits
                count = len(in_window)
                if count >= limit:
                    oldest = in_window[count - limit]
                    blocked_until = max(blocked_until, oldest + window)
                left = max(0, limit - count - 1)
                remaining = left if remaining is None else min(remaining, left)
            minute_limit = self.windows[0][0]
            if blocked_until > now:
                return Decision(False, minute_limit, 0, math.ceil(blocked_until - now), self.policy)
            hits.append(now)
            reset = math.ceil(hits[0] + 60.0 - now) if hits else 60
            return Decision(True, minute_limit, remaining or 0, max(0, reset), self.policy)


# KEYS[1]: the key's hit log (sorted set of hit times). ARGV: per_minute, per_second, a unique id,
# and optionally the time now (an injected clock; Redis's TIME otherwise).
# Returns {allowed (0/1), remaining, seconds until reset (string, fractional)}.
SLIDING_WINDOW = """
local key = KEYS[1]
local per_minute = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 60)
local blocked_until = 0
local minute_count = redis.call('ZCARD', key)
if minute_count >= per_minute then
  local oldest = redis.call('ZRANGE', key, minute_count - per_minute, minute_count - per_minute, 'WITHSCORES')
  blocked_until = math.max(blocked_until, tonumber(oldest[2]) + 60)
end
local second_count = redis.call('ZCOUNT', key, '(' .. tostring(now - 1), '+inf')
if second_count >= per_second then
  local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. tostring(now - 1), '+inf', 'WITHSCORES',
                            'LIMIT', second_count - per_second, 1)
  blocked_until = math.max(blocked_until, tonumber(oldest[2]) + 1)
end
local remaining = math.max(0, math.min(per_minute - minute_count - 1, per_second - second_count - 1))
if blocked_until > now then
  return {0, 0, tostring(blocked_until - now)}
end
redis.call('ZADD', key, now, tostring(now) .. ':' .. ARGV[3])
redis.call('EXPIRE', key, 61)
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {1, remaining, tostring(tonumber(first[2]) + 60 - now)}
"""


class RedisRateLimiter:
    """``check(key) -> Decision`` like :class:`RateLimiter`, with the counts kept in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        per_minute: int,
        per_second: int,
        prefix: str = "photostage:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock``: seconds; None (production) uses Redis's own clock."""
        self.client = client
        self.clock = clock
        self.per_minute = per_minute
        self.policy = f"{per_minute}, {per_minute};w=60, {per_second};w=1"
        self.prefix = f"{prefix}ratelimit:"
        self.per_second = per_second
        self._script = client.register_script(SLIDING_WINDOW)

    def check(self, key: str) -> Decision:
        """A Redis outage lets requests through (logged): limits protect the service, losing
        them for a while is better than refusing every client."""
        import redis

        try:
            args: list[int | str] = [self.per_minute, self.per_second, uuid.uuid4().hex]
            if self.clock is not None:
                args.append(repr(float(self.clock())))
            allowed, remaining, reset = self._script(keys=[self.prefix + key], args=args)
        except redis.RedisError:
            log.warning("rate limiter: Redis unavailable, letting the request through", exc_info=True)
            return Decision(True, self.per_minute, self.per_minute - 1, 60, self.policy)
        reset_s = max(0, math.ceil(float(reset)))
        if not int(allowed):
            return Decision(False, self.per_minute, 0, max(1, reset_s), self.policy)
        return Decision(True, self.per_minute, int(remaining), reset_s, self.policy)


def quick_redis(url: str) -> redis.Redis:
    """A client that gives up fast: a rate-limit check must not hold a request for seconds."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0, retry=Retry(NoBackoff(), 1))


def build_rate_limiter(
    settings: Settings, clock: Callable[[], float] | None = None
) -> RateLimiter | RedisRateLimiter | None:
    """The limiter the API uses: none when disabled, Redis-backed with the celery runner (limits
    then hold across API processes), in memory otherwise. ``clock`` (tests) replaces the real one."""
    limits = settings.rate_limit
    if not limits.enabled:
        return None
    if settings.jobs.runner == "celery":
        options = JobOptions.from_settings(settings.jobs)
        client = quick_redis(options.redis_url)
        return RedisRateLimiter(client, limits.per_minute, limits.per_second, options.redis_key_prefix, clock)
    if clock is not None:
        return RateLimiter(limits.per_minute, limits.per_second, clock)
    return RateLimiter(limits.per_minute, limits.per_second)
