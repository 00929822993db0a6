"""Throughput of async jobs on Celery workers, against a floor measured in the same run.

    .venv/bin/python benchmarks/throughput.py [--jobs 24] [--total 500] [--database-url URL]

Needs Redis (``--redis-url``, default redis://127.0.0.1:6379/13; only keys under a fresh prefix
are used and removed). The database is a fresh SQLite file unless ``--database-url`` is given.

1. Floor: the sync pipeline in this process, one image at a time (``limits.workers=1``), gives
   the seconds per output of each scene kind; ``W`` workers can at best do ``W / that`` outputs/s.
2. For each scene kind (effect, locked template, studio prompt) and 1 and 2 worker processes
   (``photostage worker --pool solo``): submit ``--jobs`` jobs, time until all are DONE, print
   outputs/s and the ratio to the floor (1.0 = no overhead at all; on a 2-core machine two
   workers cannot double).
3. ``--total`` locked-template jobs on 2 workers: submitted, and counted by final status; a job
   not in a final status at the end is lost.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from photostage.accounts import Principal  # noqa: E402
from photostage.config import Settings  # noqa: E402
from photostage.contract.request import SceneCreateAPIIn  # noqa: E402
from photostage.jobs.options import JobOptions  # noqa: E402
from photostage.jobs.service import JobService, build_job_service  # noqa: E402
from photostage.services import Services, build_services  # noqa: E402

FINAL = ("DONE", "ERROR", "CANCELLED")


def png_data_uri(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def product_uri() -> str:
    """A synthetic bottle with an alpha channel (no cut-out guesswork in the timings)."""
    height, width = 300, 200
    alpha = np.zeros((height, width), np.uint8)
    cv2.rectangle(alpha, (64, 100), (136, 285), 255, -1)
    cv2.ellipse(alpha, (100, 100), (36, 30), 0, 180, 360, 255, -1)
    cv2.rectangle(alpha, (88, 25), (112, 90), 255, -1)
    shade = (0.55 + 0.45 * np.cos(np.linspace(-1, 1, width) * 1.3))[None, :, None]
    rgb = np.broadcast_to(np.array([40, 120, 200])[None, None, :] * shade, (height, width, 3))
    return png_data_uri(np.dstack([rgb.astype(np.uint8), alpha]))


def template_uri() -> str:
    rng = np.random.default_rng(1)
    room = np.clip(rng.normal(180, 12, (384, 384, 3)), 0, 255).astype(np.uint8)
    room[260:] = (150, 120, 90)
    return png_data_uri(np.dstack([room, np.full((384, 384), 255, np.uint8)]))


def scene_bodies() -> dict[str, dict]:
    product = product_uri()
    output = {"number_of_images": 1, "format": "png"}
    return {
        "effect": {"object": {"image_url": product, "scale": 0.6}, "scene": {"effect": "shadows"},
                   "output": output},
        "lock": {"object": {"image_url": product, "scale": 0.5},
                 "scene": {"template_url": template_uri(), "view": "front", "template_mode": "lock"},
                 "output": output},
        "studio": {"object": {"image_url": product, "scale": 0.6},
                   "scene": {"prompt": "a bottle on a marble table, soft window light", "preference": "fast"},
                   "output": output},
    }


@dataclasses.dataclass
class Bench:
    settings: Settings
    options: JobOptions
    services: Services
    jobs: JobService
    principal: Principal
    logs: Path
    redis_url: str

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        workers = []
        for number in range(count):
            log = self.logs / f"worker-{uuid.uuid4().hex[:6]}.log"
            command = [
                sys.executable, "-m", "photostage.cli", "worker", "--pool", "solo", "--queue", self.options.queue,
                "--redis-url", self.redis_url, "--redis-prefix", self.options.redis_key_prefix,
                "--data-dir", str(self.settings.data_dir), "--loglevel", "INFO",
            ]
            env = {**os.environ, "PHOTOSTAGE_DATABASE_URL": self.settings.sqlalchemy_url,
                   "PHOTOSTAGE_LIMITS__WORKERS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "PYTHONPATH": str(REPO / "src")}
            handle = log.open("wb")
            workers.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT))
            wait_until(lambda log=log: " ready." in log.read_text(errors="replace"), 60, f"worker {number} start")
        return workers

    def run_jobs(self, body: dict, count: int, timeout_s: float) -> tuple[float, Counter]:
        request = SceneCreateAPIIn.model_validate(body)
        started = time.perf_counter()
        ids = [self.jobs.submit(self.principal, request).job.id for _ in range(count)]
        statuses = self.wait_final(ids, timeout_s)
        return time.perf_counter() - started, statuses

    def wait_final(self, ids: list[str], timeout_s: float) -> Counter:
        """Counts of final statuses, one grouped query a poll (polling must not steal the CPU
        the workers are measured on); jobs not final by the timeout are counted LOST."""
        from sqlalchemy import func, select

        from photostage.jobs.models import Job

        query = select(Job.status, func.count()).where(Job.id.in_(ids)).group_by(Job.status)
        deadline = time.monotonic() + timeout_s
        while True:
            with self.services.sessions() as session:
                statuses = Counter({status: count for status, count in session.execute(query).all()})
            final = sum(statuses[status] for status in FINAL)
            if final == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        result = Counter({status: statuses[status] for status in FINAL if statuses[status]})
        result["LOST"] = len(ids) - final
        return result


def wait_until(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


@contextlib.contextmanager
def bench(redis_url: str, database_url: str | None) -> Iterator[Bench]:
    import redis

    prefix = f"photostage-bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="photostage-bench-") as folder:
        settings = Settings(data_dir=Path(folder) / "data", database_url=database_url, rate_limit={"enabled": False},
                            limits={"workers": 1}, jobs={"runner": "celery", "redis_url": redis_url, "max_queue": 5000})
        options = dataclasses.replace(JobOptions.from_settings(settings.jobs), queue=f"{prefix}jobs",
                                      redis_key_prefix=prefix, poll_s=0.5)
        services = build_services(settings)
        services.jobs.stop()
        services.jobs = build_job_service(services, options)
        secret, _ = services.keys.create("bench")
        principal = services.keys.authenticate(secret)
        assert principal is not None
        logs = Path(folder) / "logs"
        logs.mkdir()
        try:
            yield Bench(settings, options, services, services.jobs, principal, logs, redis_url)
        finally:
            services.close()
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)


def floor_seconds_per_output(services: Services, body: dict, runs: int) -> float:
    request = SceneCreateAPIIn.model_validate(body)
    services.runner.run(request, account_id=0, request_id="warmup")
    times = []
    for run in range(runs):
        started = time.perf_counter()
        result = services.runner.run(request, account_id=0, request_id=f"floor-{run}")
        times.append((time.perf_counter() - started) / len(result.output))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=24, help="Jobs per scene kind and worker count.")
    parser.add_argument("--total", type=int, default=500, help="Jobs of the no-job-lost run.")
    parser.add_argument("--kinds", nargs="+", default=["effect", "lock", "studio"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    bodies = scene_bodies()
    with bench(args.redis_url, args.database_url) as run:
        print(f"database {run.settings.sqlalchemy_url.split('@')[-1]}, {os.cpu_count()} CPUs")
        floors = {kind: floor_seconds_per_output(run.services, bodies[kind], runs=5) for kind in args.kinds}
        print(f"{'scene':8} {'workers':>7} {'outputs':>7} {'seconds':>8} {'out/s':>7} {'floor/s':>8} {'ratio':>6}")
        for workers_count in (1, 2):
            workers = run.start_workers(workers_count)
            try:
                for kind in args.kinds:
                    run.run_jobs(bodies[kind], workers_count, 120)  # warm every worker's caches
                    elapsed, statuses = run.run_jobs(bodies[kind], args.jobs, 600)
                    rate = statuses["DONE"] / elapsed
                    floor = workers_count / floors[kind]
                    print(f"{kind:8} {workers_count:>7} {statuses['DONE']:>7} {elapsed:>8.2f} {rate:>7.2f} "
                          f"{floor:>8.2f} {rate / floor:>6.2f}   {dict(statuses)}")
                if workers_count == 2 and args.total:
                    elapsed, statuses = run.run_jobs(bodies["lock"], args.total, 1800)
                    print(f"\n{args.total} lock jobs on 2 workers: {dict(statuses)} in {elapsed:.1f} s "
                          f"({statuses['DONE'] / elapsed:.2f} outputs/s); "
                          f"submitted {args.total}, DONE {statuses['DONE']}, lost {statuses['LOST']}")
            finally:
                stop(workers)
        print("\nfloor (sync pipeline, one image at a time, this process): "
              + ", ".join(f"{kind} {seconds * 1000:.0f} ms/output" for kind, seconds in floors.items()))


if __name__ == "__main__":
    main()
