"""Per-key rate limits (Claid's defaults: 120 requests a minute and 4 a second) with the
`RateLimit-*` headers on every answer. Sliding-window counters kept in memory per process;
the limits are per API key. The clock is injectable (``clock``: seconds, monotonic), so the
windows are tested by moving a fake clock, never by sleeping or by racing the machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


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
