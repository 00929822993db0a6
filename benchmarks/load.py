"""A bounded loopback load test of the HTTP API: capacity first, then ten times that.

    .venv/bin/python benchmarks/load.py [--duration 20] [--factor 10] [--max-requests 4000] [--jobs 60]

The server is photostage under uvicorn in a subprocess on 127.0.0.1 (a free port), with
``limits.workers=2``; the load generator is asyncio + httpx in this process. Every request is a
1024² effect scene of one JPEG from a 200×300 inline PNG.

1. Capacity: closed-loop clients at concurrency 1, 2, 4 and 8 for a few seconds each; capacity
   is the best rate of 200s of a step that had no refusal.
2. Overload: an open-loop arrival rate of ``--factor`` × capacity for ``--duration`` seconds
   (at most ``--max-requests`` requests), per-key rate limits raised out of the way so refusals
   come from capacity (503). Only 200/429/503 are acceptable answers; p50/p99 of the 200s and
   the server's resident memory over time are reported.
3. Rate limits: the same overload for a few seconds against Claid's per-key limits (120/min,
   4/s): the refusals are 429s.
4. Async jobs, if the server has ``POST /v1/scene/create/async``: ``--jobs`` jobs submitted at
   once, each polled until DONE or ERROR; a job that never gets there is lost.

The exit status is 1 when an answer other than 200/429/503 came back, a request failed at the
transport level, the server was unhealthy afterwards, or a job was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
ALLOWED_STATUSES = frozenset({200, 429, 503})
FINAL_JOB_STATUSES = frozenset({"DONE", "ERROR", "CANCELLED"})
KEY_FILE = "load-api-key"
PORT_FILE = "load-port"
RAISED_LIMITS = (10**7, 10**6)  # per minute, per second: out of the way
# uvicorn closes a connection idle for 5 s by default. On a starved machine its loop can run that
# timer after a kept-alive connection's next request has reached the kernel but not the loop: the
# close discards the unread request, the kernel resets the connection, and the generator counts a
# ReadError the overload itself did not cause (the likely reading of 37 ReadErrors in 240 requests,
# seen once with the server's p50 at 31 s). No phase leaves a connection idle for KEEP_ALIVE_S.
KEEP_ALIVE_S = 600
CLAID_LIMITS = (120, 4)


# ------------------------------------------------------------------------------ the server
def serve(data_dir: Path, port: int, per_minute: int, per_second: int) -> None:
    """The child process: photostage on 127.0.0.1:port (0: a free port the kernel picks, bound
    here and kept, so two runs side by side never race for one) with two workers; the API key it
    made and the port are written beside its data for the load generator. SIGUSR1 dumps every
    thread's stack to the server log (to see where a slow server waits)."""
    import faulthandler
    import signal

    import uvicorn

    faulthandler.register(signal.SIGUSR1, all_threads=True)

    from photostage.api.app import create_app
    from photostage.config import Settings

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    port = int(listener.getsockname()[1])
    settings = Settings(
        data_dir=data_dir,
        limits={"workers": 2},
        rate_limit={"enabled": True, "per_minute": per_minute, "per_second": per_second},
        server={"host": "127.0.0.1", "port": port},
    )
    app = create_app(settings)
    secret, _ = app.state.services.keys.create("load")
    (data_dir / KEY_FILE).write_text(secret)
    (data_dir / f"{PORT_FILE}.part").write_text(str(port))
    (data_dir / f"{PORT_FILE}.part").rename(data_dir / PORT_FILE)  # never read half-written
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=KEEP_ALIVE_S)
    uvicorn.Server(config).run(sockets=[listener])


def rss_mb(pid: int) -> float:
    """The process's resident memory now (VmRSS), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    api_key: str
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "content-type": "application/json"}


@contextlib.contextmanager
def running_server(data_dir: Path, limits: tuple[int, int], startup_s: float = 60.0) -> Iterator[Server]:
    """A server subprocess, stopped (SIGTERM, then SIGKILL) when the block ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    command = [sys.executable, str(Path(__file__).resolve()), "serve", "--data-dir", str(data_dir),
               "--port", "0", "--per-minute", str(limits[0]), "--per-second", str(limits[1])]
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    try:
        base_url = wait_until_healthy(process, data_dir, log_path, startup_s)
        yield Server(process, base_url, (data_dir / KEY_FILE).read_text().strip(), log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], data_dir: Path, log_path: Path, startup_s: float) -> str:
    """The server's base URL once it answers /healthz (its port file is written after its key)."""
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text()[-3000:]
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log}")
        port = (data_dir / PORT_FILE).read_text().strip() if (data_dir / PORT_FILE).exists() else ""
        with contextlib.suppress(httpx.HTTPError):
            if port and httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start within {startup_s:g} s:\n{log_path.read_text()[-3000:]}")


# ------------------------------------------------------------------------------ the request
def scene_body() -> bytes:
    """One effect scene, one JPEG, from an inline 200×300 product PNG: the request of every run."""
    sys.path.insert(0, str(REPO / "tests"))
    from PIL import Image

    from conftest import make_product  # the test suite's synthetic product

    buffer = io.BytesIO()
    Image.fromarray(make_product(200, 300), "RGBA").save(buffer, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    body = {"object": {"image_url": uri}, "scene": {"effect": "shadows", "seed": 1},
            "output": {"number_of_images": 1, "format": "jpeg"}}
    return json.dumps(body).encode()


# ------------------------------------------------------------------------------ measuring
@dataclass
class Tally:
    """Answers of one phase: statuses, transport failures, latencies of the 200s."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    ok_latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0

    @property
    def unexpected(self) -> dict[int, int]:
        return {status: count for status, count in self.statuses.items() if status not in ALLOWED_STATUSES}


@dataclass(frozen=True)
class PhaseResult:
    name: str
    offered_rps: float
    sent: int
    elapsed_s: float
    statuses: dict[int, int]
    failures: dict[str, int]
    p50_ms: float
    p99_ms: float
    ok_rps: float
    peak_rss_mb: float
    server_cores: float
    generator_cores: float

    @property
    def clean(self) -> bool:
        return not self.failures and all(status in ALLOWED_STATUSES for status in self.statuses)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def post_scene(pool: ConnectionPool, server: Server, body: bytes, tally: Tally,
                     scheduled: float | None = None) -> None:
    """One request on a free connection; a 200's latency counts from ``scheduled`` (its planned
    start) when given, so time spent waiting for a connection is not hidden."""
    started = time.perf_counter() if scheduled is None else scheduled
    client = await pool.get()
    tally.sent += 1
    try:
        response = await client.post("/v1/scene/create", content=body, headers=server.headers)
    except httpx.HTTPError as error:
        tally.failures[type(error).__name__] += 1
        return
    finally:
        pool.put_nowait(client)
    tally.statuses[response.status_code] += 1
    if response.status_code == 200:
        tally.ok_latencies_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class RssSampler:
    """The server's resident memory, sampled every ``interval_s`` while a phase runs."""

    pid: int
    interval_s: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        while not stop.is_set():
            self.samples.append((time.monotonic() - started, rss_mb(self.pid)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    @property
    def peak_mb(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)


async def measured(name: str, server: Server, offered_rps: float,
                   drive: Callable[[Tally], Awaitable[None]]) -> PhaseResult:
    tally = Tally()
    sampler = RssSampler(server.process.pid)
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    server_cpu, generator_cpu = cpu_seconds(server.process.pid), time.process_time()
    started = time.perf_counter()
    await drive(tally)
    elapsed = time.perf_counter() - started
    server_cores = (cpu_seconds(server.process.pid) - server_cpu) / elapsed
    generator_cores = (time.process_time() - generator_cpu) / elapsed
    stop.set()
    await sampling
    return PhaseResult(
        name=name, offered_rps=offered_rps, sent=tally.sent, elapsed_s=elapsed, statuses=dict(tally.statuses),
        failures=dict(tally.failures), p50_ms=percentile(tally.ok_latencies_ms, 0.50),
        p99_ms=percentile(tally.ok_latencies_ms, 0.99), ok_rps=len(tally.ok_latencies_ms) / elapsed,
        peak_rss_mb=sampler.peak_mb, server_cores=server_cores, generator_cores=generator_cores,
    )


ConnectionPool = asyncio.Queue[httpx.AsyncClient]


@contextlib.asynccontextmanager
async def connections(server: Server, count: int) -> AsyncIterator[ConnectionPool]:
    """``count`` keep-alive connections, each its own one-connection httpx client, lent out one
    request at a time: the in-flight bound of the generator. (One httpx client with many
    connections costs the generator far more CPU per request: measured on 2 cores, 64
    connections in one client reached 117 requests/s of /healthz, 64 one-connection clients 582.)"""
    clients = [
        httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(120.0),
                          limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        for _ in range(count)
    ]
    pool: ConnectionPool = asyncio.Queue()
    for client in clients:
        pool.put_nowait(client)
    try:
        yield pool
    finally:
        for client in clients:
            await client.aclose()


async def closed_loop(server: Server, body: bytes, concurrency: int, duration_s: float) -> PhaseResult:
    """``concurrency`` clients, each sending its next request when the last one is answered."""
    async with connections(server, concurrency) as pool:
        async def drive(tally: Tally) -> None:
            deadline = time.perf_counter() + duration_s

            async def user() -> None:
                while time.perf_counter() < deadline:
                    await post_scene(pool, server, body, tally)

            await asyncio.gather(*(user() for _ in range(concurrency)))

        return await measured(f"closed loop × {concurrency}", server, float("nan"), drive)


async def open_loop(server: Server, body: bytes, rate_rps: float, duration_s: float, max_requests: int,
                    name: str, in_flight: int = 128) -> PhaseResult:
    """Requests started on a fixed schedule of ``rate_rps``, whether or not earlier ones finished.

    At most ``in_flight`` are outstanding (one per connection); a request that has to wait for a
    connection still counts its latency from its scheduled start."""
    count = max(1, min(max_requests, round(rate_rps * duration_s)))
    async with connections(server, in_flight) as pool:
        async def drive(tally: Tally) -> None:
            origin = time.perf_counter()
            tasks = []
            for index in range(count):
                scheduled = origin + index / rate_rps
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post_scene(pool, server, body, tally, scheduled)))
            await asyncio.gather(*tasks)

        return await measured(name, server, rate_rps, drive)


async def measure_capacity(server: Server, body: bytes, step_s: float) -> tuple[float, list[PhaseResult]]:
    """The best rate of 200s over a concurrency ramp, counting only steps without refusals."""
    steps = []
    for concurrency in (1, 2, 4, 8):
        steps.append(await closed_loop(server, body, concurrency, step_s))
    clean = [step.ok_rps for step in steps if set(step.statuses) == {200} and not step.failures]
    return max(clean, default=max(step.ok_rps for step in steps)), steps


# ------------------------------------------------------------------------------ async jobs
@dataclass(frozen=True)
class JobsResult:
    submitted: int
    submit_statuses: dict[int, int]
    final_statuses: dict[str, int]
    lost: int
    elapsed_s: float


async def has_async_endpoint(server: Server) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        paths = (await client.get("/openapi.json")).json().get("paths", {})
    return "post" in paths.get("/v1/scene/create/async", {})


async def run_jobs(server: Server, body: bytes, count: int, timeout_s: float) -> JobsResult:
    """Submit ``count`` jobs at once and poll every accepted one until it is final."""
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=120.0) as client:
        submissions = (client.post("/v1/scene/create/async", content=body, headers=server.headers)
                       for _ in range(count))
        answers = await asyncio.gather(*submissions)
        job_ids = [answer.json()["data"]["id"] for answer in answers if answer.status_code == 202]
        final: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while len(final) < len(job_ids) and time.monotonic() < deadline:
            for job_id in job_ids:
                if job_id in final:
                    continue
                answer = await client.get(f"/v1/scene/create/async/{job_id}", headers=server.headers)
                if answer.status_code == 200 and answer.json()["data"]["status"] in FINAL_JOB_STATUSES:
                    final[job_id] = answer.json()["data"]["status"]
            await asyncio.sleep(0.25)
    return JobsResult(
        submitted=count, submit_statuses=dict(Counter(answer.status_code for answer in answers)),
        final_statuses=dict(Counter(final.values())), lost=len(job_ids) - len(final),
        elapsed_s=time.perf_counter() - started,
    )


async def healthy_after(server: Server, body: bytes) -> bool:
    """The server still answers health checks and one more real request, after a pause to drain."""
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        health = await client.get("/healthz")
        scene = await client.post("/v1/scene/create", content=body, headers=server.headers)
    return health.status_code == 200 and scene.status_code == 200


# ------------------------------------------------------------------------------ report
def phase_table(results: list[PhaseResult]) -> list[str]:
    lines = [f"{'phase':<26}{'offered/s':>10}{'sent':>7}{'200/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
             f"{'peak RSS MB':>13}{'CPU srv/gen':>13}  statuses"]
    for result in results:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(result.statuses.items()))
        failures = " ".join(f"{name}:{count}" for name, count in sorted(result.failures.items()))
        offered = "-" if result.offered_rps != result.offered_rps else f"{result.offered_rps:.1f}"
        cpu = f"{result.server_cores:>7.2f}/{result.generator_cores:<5.2f}"
        lines.append(f"{result.name:<26}{offered:>10}{result.sent:>7}{result.ok_rps:>8.2f}{result.p50_ms:>9.0f}"
                     f"{result.p99_ms:>9.0f}{result.peak_rss_mb:>13.0f}{cpu}  {statuses} {failures}".rstrip())
    return lines


@dataclass(frozen=True)
class LoadReport:
    capacity_rps: float
    phases: list[PhaseResult]
    jobs: JobsResult | None
    healthy: bool

    @property
    def passed(self) -> bool:
        jobs_kept = self.jobs is None or self.jobs.lost == 0
        return self.healthy and jobs_kept and all(phase.clean for phase in self.phases)


async def run_load(data_dir: Path, duration_s: float, factor: float, max_requests: int, jobs: int,
                   step_s: float, limited_s: float) -> LoadReport:
    body = scene_body()
    with running_server(data_dir / "raised", RAISED_LIMITS) as server:
        capacity, ramp = await measure_capacity(server, body, step_s)
        overload = await open_loop(server, body, factor * capacity, duration_s, max_requests,
                                   f"open loop {factor:g}× capacity")
        healthy = await healthy_after(server, body)
        jobs_result = (
            await run_jobs(server, body, jobs, timeout_s=max(60.0, jobs * 3.0))
            if jobs and await has_async_endpoint(server) else None
        )
    with running_server(data_dir / "claid-limits", CLAID_LIMITS) as server:
        limited = await open_loop(server, body, factor * capacity, limited_s, max_requests,
                                  f"{factor:g}× with 120/min, 4/s")
        healthy = healthy and await healthy_after(server, body)
    return LoadReport(capacity, [*ramp, overload, limited], jobs_result, healthy)


def print_report(report: LoadReport, duration_s: float) -> None:
    print(f"server: uvicorn, 1 process, limits.workers=2 (capacity semaphore 8); {os.cpu_count()} CPUs "
          "shared with the load generator; request: 1024² effect scene, one JPEG")
    print(f"capacity (best 200/s of a refusal-free step): {report.capacity_rps:.2f} requests/s\n")
    for line in phase_table(report.phases):
        print(line)
    overload = report.phases[-2]
    unexpected = sum(count for status, count in overload.statuses.items() if status not in ALLOWED_STATUSES)
    print(f"\noverload: {overload.sent} requests sent over {duration_s:g} s, all answered after "
          f"{overload.elapsed_s:.1f} s; answers other than 200/429/503: {unexpected}; "
          f"transport failures: {sum(overload.failures.values())}")
    print("CPU srv/gen: cores busy in the server process / in this load generator, averaged over the phase")
    if report.jobs is not None:
        jobs = report.jobs
        print(f"async jobs: {jobs.submitted} submitted at once, submit answers {jobs.submit_statuses}, "
              f"final {jobs.final_statuses}, lost {jobs.lost}, {jobs.elapsed_s:.1f} s")
    else:
        print("async jobs: skipped (no POST /v1/scene/create/async on this server)")
    print(f"server healthy afterwards: {'yes' if report.healthy else 'NO'}; result: "
          f"{'PASS' if report.passed else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=("run", "serve"), default="run", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of the overload phase.")
    parser.add_argument("--factor", type=float, default=10.0, help="Offered load as a multiple of capacity.")
    parser.add_argument("--max-requests", type=int, default=4000, help="At most this many overload requests.")
    parser.add_argument("--jobs", type=int, default=60, help="Async jobs to submit (0: none).")
    parser.add_argument("--step", type=float, default=3.0, help="Seconds of each capacity ramp step.")
    parser.add_argument("--limited", type=float, default=5.0, help="Seconds of the per-key rate limit phase.")
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--per-minute", type=int, default=RAISED_LIMITS[0], help=argparse.SUPPRESS)
    parser.add_argument("--per-second", type=int, default=RAISED_LIMITS[1], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.data_dir, args.port, args.per_minute, args.per_second)
        return 0
    with tempfile.TemporaryDirectory(prefix="photostage-load-") as scratch:
        report = asyncio.run(run_load(Path(scratch), args.duration, args.factor, args.max_requests, args.jobs,
                                      args.step, args.limited))
    print_report(report, args.duration)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
