"""Admission to the device: a bounded, first-come-first-served queue in front of the pipeline.

One pipeline object runs one call at a time (diffusers pipelines keep per-call state), and a GPU
gains nothing from interleaving two calls. So at most ``slots`` calls run and at most
``max_waiting`` more wait, in arrival order; the next one is refused at once with
:class:`DeviceBusy` and an honest ``Retry-After`` (the queue ahead times the recent call time),
instead of queueing without limit behind a lock. A waiting caller's ``stop`` check runs while it
waits, so a request whose deadline passes (or whose client left) leaves the queue.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_CALL_S = 10.0  # assumed duration of a call before one was measured
_SMOOTHING = 0.3  # weight of the newest call in the running mean
MAX_RETRY_AFTER_S = 300


class DeviceBusy(Exception):
    """The device's queue is full; ``retry_after_s`` is when a place is likely free."""

    def __init__(self, retry_after_s: int, running: int, waiting: int) -> None:
        super().__init__(f"the GPU is busy: {running} call(s) running, {waiting} waiting")
        self.retry_after_s = retry_after_s
        self.running = running
        self.waiting = waiting


@dataclass(frozen=True)
class AdmissionState:
    slots: int
    max_waiting: int
    running: int
    waiting: int
    mean_call_s: float | None

    @property
    def full(self) -> bool:
        return self.running >= self.slots and self.waiting >= self.max_waiting


class DeviceAdmission:
    def __init__(
        self, slots: int = 1, max_waiting: int = 4, clock: Callable[[], float] = time.monotonic,
        poll_s: float = 0.25,
    ) -> None:
        if slots < 1 or max_waiting < 0:
            raise ValueError("slots must be at least 1 and max_waiting at least 0")
        self.slots = slots
        self.max_waiting = max_waiting
        self._clock = clock
        self._poll_s = poll_s
        self._condition = threading.Condition()
        self._running = 0
        self._queue: deque[int] = deque()
        self._next_ticket = 0
        self._mean_s: float | None = None

    def state(self) -> AdmissionState:
        with self._condition:
            return AdmissionState(self.slots, self.max_waiting, self._running, len(self._queue), self._mean_s)

    def retry_after_s(self) -> int:
        """Seconds until a caller arriving now would likely get a place: everyone ahead of it, run
        ``slots`` at a time, at the recent mean call time."""
        with self._condition:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> int:
        mean = self._mean_s if self._mean_s is not None else DEFAULT_CALL_S
        ahead = len(self._queue) + 1
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(ahead * mean / self.slots)))

    def check(self) -> None:
        """Raise :class:`DeviceBusy` now if a caller arriving now would be refused (the overload
        gate asks before any work is done for a request)."""
        with self._condition:
            if self._running >= self.slots and len(self._queue) >= self.max_waiting:
                raise DeviceBusy(self._retry_after_locked(), self._running, len(self._queue))

    @contextmanager
    def slot(self, stop: Callable[[], None] | None = None, bounded: bool = True) -> Iterator[None]:
        """Hold one of the device's slots for the body of the ``with``; wait in line for it.

        ``stop`` is called while waiting (every ``poll_s``); what it raises leaves the queue.
        ``bounded=False`` joins the line even when it is full (async jobs: their own queue bounds them).
        """
        with self._condition:
            if bounded and self._running >= self.slots and len(self._queue) >= self.max_waiting:
                raise DeviceBusy(self._retry_after_locked(), self._running, len(self._queue))
            ticket = self._next_ticket
            self._next_ticket += 1
            self._queue.append(ticket)
            try:
                while self._running >= self.slots or self._queue[0] != ticket:
                    if stop is not None:
                        stop()
                    self._condition.wait(self._poll_s)
            finally:
                self._queue.remove(ticket)
                self._condition.notify_all()
            self._running += 1
        started = self._clock()
        try:
            yield
        finally:
            elapsed = max(0.0, self._clock() - started)
            with self._condition:
                self._running -= 1
                self._mean_s = elapsed if self._mean_s is None else (
                    _SMOOTHING * elapsed + (1 - _SMOOTHING) * self._mean_s
                )
                self._condition.notify_all()
