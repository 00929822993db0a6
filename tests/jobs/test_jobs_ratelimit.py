"""The Redis-backed rate limiter: the in-memory limiter's answers, shared across processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from photostage.api.ratelimit import RateLimiter, RedisRateLimiter, build_rate_limiter, quick_redis
from photostage.config import Settings

from .test_jobs_support import REDIS_URL, redis_prefix

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as value:
        yield value


class FakeClock:
    """Seconds that move only when the test says so (sent to Redis with every check)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(prefix: str, clock: FakeClock, per_minute: int = 120, per_second: int = 4) -> RedisRateLimiter:
    import redis

    return RedisRateLimiter(redis.Redis.from_url(REDIS_URL), per_minute, per_second, prefix, clock)


def test_per_second_limit_blocks_then_recovers(prefix: str) -> None:
    clock = FakeClock()
    shared = limiter(prefix, clock)
    decisions = [shared.check("key-1") for _ in range(5)]
    assert [decision.allowed for decision in decisions] == [True, True, True, True, False]
    assert [decision.remaining for decision in decisions[:4]] == [3, 2, 1, 0]
    blocked = decisions[-1]
    assert blocked.headers()["Retry-After"] == "1" and blocked.headers()["RateLimit-Remaining"] == "0"
    assert blocked.headers()["RateLimit-Limit"] == RateLimiter(120, 4).policy
    assert shared.check("key-2").allowed  # limits are per key
    clock.now += 0.5
    assert not shared.check("key-1").allowed
    clock.now += 0.5
    assert shared.check("key-1").allowed


def test_limits_hold_across_limiter_instances(prefix: str) -> None:
    """Two API processes = two limiters over one Redis: the count is shared."""
    clock = FakeClock()
    first = limiter(prefix, clock, per_minute=3, per_second=10)
    second = limiter(prefix, clock, per_minute=3, per_second=10)
    assert [first.check("k").allowed, second.check("k").allowed, first.check("k").allowed] == [True] * 3
    clock.now += 5.0
    refused = second.check("k")
    assert not refused.allowed and refused.reset_s == 55
    clock.now += 55.0
    assert first.check("k").allowed


def test_the_in_memory_and_redis_limiters_agree_step_by_step(prefix: str) -> None:
    clock = FakeClock()
    shared, local = limiter(prefix, clock, per_minute=7, per_second=3), RateLimiter(7, 3, clock)
    for step in (0.0, 0.0, 0.2, 0.3, 0.6, 0.0, 1.0, 0.1, 20.0, 0.0, 40.0, 0.5):
        clock.now += step
        assert shared.check("k") == local.check("k"), clock.now


def test_an_unreachable_redis_lets_requests_through() -> None:
    """A dead Redis is noticed by one short connect attempt, never by waiting seconds."""
    broken = RedisRateLimiter(quick_redis("redis://127.0.0.1:1/0"), 120, 4)
    connection = broken.client.connection_pool.connection_kwargs
    assert connection["socket_connect_timeout"] == 0.5 and connection["socket_timeout"] == 1.0
    assert broken.check("k").allowed


def test_the_celery_runner_gets_the_shared_limiter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    celery = Settings(data_dir=tmp_path, jobs={"runner": "celery", "redis_url": REDIS_URL})
    assert isinstance(build_rate_limiter(celery), RedisRateLimiter)
    assert isinstance(build_rate_limiter(Settings(data_dir=tmp_path)), RateLimiter)
    assert build_rate_limiter(Settings(data_dir=tmp_path, rate_limit={"enabled": False})) is None
