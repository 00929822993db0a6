"""Readiness: can this process do its work now? Each check is a small callable that raises when its
dependency does not answer; they run at once, each bounded by a timeout, so an unreachable
database (a connect that hangs) makes the answer "not ready" quickly rather than hanging the probe.

Checks: ``database`` (a ``SELECT 1`` on a fresh connection of the pool), ``broker`` (a Redis PING,
only with runner=celery) and ``storage`` (the temporary results store and the server-wide local
connectors can be written).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

Check = Callable[[], None]
DEFAULT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    checks: dict[str, str]  # name -> "ok" or what failed


class Readiness:
    def __init__(self, checks: Mapping[str, Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.checks = dict(checks)
        self.timeout_s = timeout_s

    def check(self) -> ReadinessReport:
        results: dict[str, str] = {}
        # A pool per probe: a check stuck past its timeout must not hold up the next probe.
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.checks)), thread_name_prefix="photostage-ready")
        try:
            futures = {name: pool.submit(check) for name, check in self.checks.items()}
            for name, future in futures.items():
                try:
                    future.result(timeout=self.timeout_s)
                    results[name] = "ok"
                except TimeoutError:
                    results[name] = f"no answer within {self.timeout_s:g} s"
                except Exception as error:  # noqa: BLE001 - any failure is "not ready", said briefly
                    results[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return ReadinessReport(all(value == "ok" for value in results.values()), results)


def database_check(engine: Engine) -> Check:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def redis_check(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Check:
    def check() -> None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()

    return check


def writable_directories_check(directories: list[Path]) -> Check:
    def check() -> None:
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise PermissionError(f"{directory} is not writable")

    return check
