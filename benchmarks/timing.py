"""The one timing helper every benchmark script shares (scripts run with this folder on sys.path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(run: Callable[[], object], repeats: int) -> float:
    """Median wall milliseconds of ``run`` over ``repeats`` calls, after one warm-up call (first
    calls pay for lazy plugin/codec initialisation and first-touch allocations)."""
    run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)
