"""Per-key rate limits shared by every API process through Redis (used with ``runner=celery``).

The same sliding windows and the same :class:`~photostage.api.ratelimit.Decision` as the
in-memory limiter, computed by one Lua script so a check-and-count is atomic across processes
and machines; time is Redis's own clock, so API hosts need not agree on theirs. Tests inject a
clock instead (its reading is sent with each check), so the windows are tested without sleeping.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from photostage.api.ratelimit import Decision, RateLimiter
from photostage.config import Settings
from photostage.jobs.options import JobOptions

if TYPE_CHECKING:
    import redis

log = logging.getLogger("photostage.api")

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
