"""The Redis-backed rate limiter: the in-memory limiter's answers, shared across processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from photostage.api.ratelimit import RateLimiter
from photostage.config import Settings
from photostage.jobs.ratelimit import RedisRateLimiter, build_rate_limiter, quick_redis

from .test_jobs_support import REDIS_URL, redis_prefix

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as value:
        yield value


def limiter(prefix: str, per_minute: int = 120, per_second: int = 4) -> RedisRateLimiter:
    import redis

    return RedisRateLimiter(redis.Redis.from_url(REDIS_URL), per_minute, per_second, prefix)


def test_per_second_limit_blocks_then_recovers(prefix: str) -> None:
    shared = limiter(prefix)
    decisions = [shared.check("key-1") for _ in range(5)]
    assert [decision.allowed for decision in decisions] == [True, True, True, True, False]
    assert [decision.remaining for decision in decisions[:4]] == [3, 2, 1, 0]
    blocked = decisions[-1]
    assert blocked.headers()["Retry-After"] == "1" and blocked.headers()["RateLimit-Remaining"] == "0"
    assert blocked.headers()["RateLimit-Limit"] == RateLimiter(120, 4).policy
    assert shared.check("key-2").allowed  # limits are per key
    time.sleep(1.05)
    assert shared.check("key-1").allowed


def test_limits_hold_across_limiter_instances(prefix: str) -> None:
    """Two API processes = two limiters over one Redis: the count is shared."""
    first, second = limiter(prefix, per_minute=3, per_second=10), limiter(prefix, per_minute=3, per_second=10)
    assert [first.check("k").allowed, second.check("k").allowed, first.check("k").allowed] == [True] * 3
    refused = second.check("k")
    assert not refused.allowed and 55 <= refused.reset_s <= 60


def test_an_unreachable_redis_lets_requests_through() -> None:
    broken = RedisRateLimiter(quick_redis("redis://127.0.0.1:1/0"), 120, 4)
    started = time.monotonic()
    assert broken.check("k").allowed
    assert time.monotonic() - started < 2


def test_the_celery_runner_gets_the_shared_limiter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    celery = Settings(data_dir=tmp_path, jobs={"runner": "celery", "redis_url": REDIS_URL})
    assert isinstance(build_rate_limiter(celery), RedisRateLimiter)
    assert isinstance(build_rate_limiter(Settings(data_dir=tmp_path)), RateLimiter)
    assert build_rate_limiter(Settings(data_dir=tmp_path, rate_limit={"enabled": False})) is None
