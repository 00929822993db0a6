"""The ``local`` runner: a pool of worker threads inside the API process (``make run``).

The in-memory queue only carries job ids; the job rows stay the truth. On start the service
queues every ACCEPTED job again (nothing accepted is lost when the process restarts), and the
lease reaper hands back jobs whose worker died, so a restart or a crash costs time, never jobs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("photostage.jobs")


class LocalDispatcher:
    """``workers`` threads that each take a job id from the queue and run ``execute`` on it."""

    def __init__(self, execute: Callable[[str], str], workers: int) -> None:
        self.execute = execute
        self.workers = workers
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"photostage-job-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the threads to end after their current job; a job still running when the timeout
        passes keeps its lease until it expires and is then run again by whoever is up. Queued
        ids are dropped: their jobs are ACCEPTED rows, queued again at the next start."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            try:
                self.execute(job_id)
            except Exception:  # noqa: BLE001 - a store failure must not end the worker thread
                log.exception("running job %s failed", job_id)
