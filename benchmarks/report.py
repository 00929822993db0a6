"""Run every benchmark script under benchmarks/ and write docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/report.py [--only load pipeline] [--timeout 1200] [--output PATH]

Each script runs as its own subprocess with a time limit; its stdout goes into the report
verbatim (the tables are the scripts' own, with their floors and ratios), with its wall time,
CPU time and peak resident memory. A script that is missing, fails or runs out of time is
reported as such and the report goes on. The machine (CPU model, cores, memory, load average
before and after each run, Python and library versions) is described at the top, because
numbers from a shared 2-core box and from a quiet 16-core one are not comparable.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO / "benchmarks"
DEFAULT_OUTPUT = REPO / "docs" / "BENCHMARKS.md"
LIBRARIES = (
    "numpy", "opencv-python-headless", "pillow", "pillow-heif", "fastapi", "starlette", "pydantic", "uvicorn",
    "httpx", "sqlalchemy", "celery", "redis", "pymatting", "onnxruntime", "torch", "diffusers",
)
HEADLINE = re.compile(r"^\s*(capacity|overload|async jobs|server healthy|median|worst|floor|\d+ \w+ jobs on)",
                      re.IGNORECASE)
RATIO = re.compile(r"(?:(?<!\d)×\s*(\d+(?:\.\d+)?))|(?:\b(\d+(?:\.\d+)?)x\b)")  # not a size: 1024×768


@dataclass(frozen=True)
class Benchmark:
    """A known script: what it measures, in one line, and the arguments it runs with."""

    script: str
    title: str
    arguments: tuple[str, ...] = ()


KNOWN = (
    Benchmark("codecs.py", "Codecs: encode/decode ms per 1024² image, file sizes"),
    Benchmark("studio.py", "Studio scenes: ms per image against the engine's own last step (to_canvas)"),
    Benchmark("cutout.py", "Cut-out: IoU, edge error and gate refusals per real-photo category, ms against a floor"),
    Benchmark("pipeline.py", "Scene pipeline: per-output ms against a decode+blend+encode floor"),
    Benchmark("throughput.py", "Async jobs on Celery workers: outputs/s against the sync floor, no job lost"),
    Benchmark("load.py", "HTTP load: capacity, 10× overload, latency, memory, no job lost"),
    Benchmark("diffusion.py", "Diffusion engine: s/image and peak memory per family, side, batch (toy size on a CPU)"),
)


@dataclass(frozen=True)
class Run:
    benchmark: Benchmark
    present: bool
    exit_code: int | None  # None: not run, or killed at the time limit
    timed_out: bool
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str
    stderr_tail: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def ok(self) -> bool:
        return self.present and not self.timed_out and self.exit_code == 0

    @property
    def status(self) -> str:
        if not self.present:
            return "missing: skipped"
        if self.timed_out:
            return "ran out of time"
        return "ok" if self.exit_code == 0 else f"failed (exit {self.exit_code})"


# ------------------------------------------------------------------------------ running
def discover(only: list[str] | None) -> list[Benchmark]:
    """The known scripts in their order, then any other script found beside them."""
    known_names = {benchmark.script for benchmark in KNOWN}
    extra = sorted(
        path.name for path in BENCHMARKS_DIR.glob("*.py")
        if path.name not in known_names and path.name != Path(__file__).name and not path.name.startswith("_")
    )
    chosen = [*KNOWN, *(Benchmark(name, f"{name}: (no description)") for name in extra)]
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        chosen = [benchmark for benchmark in chosen if benchmark.script.removesuffix(".py") in wanted]
    return chosen


def run_one(benchmark: Benchmark, timeout_s: float) -> Run:
    """The script in its own process; its own rusage (``wait4``) gives its CPU time and peak RSS."""
    path = BENCHMARKS_DIR / benchmark.script
    load_before = os.getloadavg()
    if not path.exists():
        return Run(benchmark, False, None, False, 0.0, 0.0, 0.0, "", "", load_before, load_before)
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        command = [sys.executable, str(path), *benchmark.arguments]
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        exit_code, rusage, timed_out = wait_with_rusage(process, timeout_s)
        wall_s = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        output = stdout.read().decode("utf-8", "replace")
        errors = stderr.read().decode("utf-8", "replace")
    cpu_s = rusage.ru_utime + rusage.ru_stime if rusage is not None else 0.0
    peak_mb = rusage.ru_maxrss / 1024 if rusage is not None else 0.0
    noise = ("Deprecat", "from starlette")
    tail = "\n".join(line for line in errors.splitlines() if not any(word in line for word in noise))
    return Run(benchmark, True, exit_code, timed_out, wall_s, cpu_s, peak_mb, output, tail[-2500:],
               load_before, os.getloadavg())


def wait_with_rusage(
    process: subprocess.Popen[bytes], timeout_s: float
) -> tuple[int | None, os.struct_rusage | None, bool]:
    """Wait for the process (killing its whole session at the time limit) and reap it with
    ``os.wait4``, which reports that child's own resource use."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, rusage, False
        time.sleep(0.2)
    os.killpg(process.pid, 9)
    _, status, rusage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return None, rusage, True


# ------------------------------------------------------------------------------ the machine
def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def library_versions() -> list[str]:
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def photostage_version() -> str:
    try:
        return importlib.metadata.version("photostage")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def machine_lines() -> list[str]:
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores (affinity: {len(os.sched_getaffinity(0))})",
        f"- Memory: {memory_gib()}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- photostage {photostage_version()}; " + ", ".join(library_versions()),
        f"- Load average when the report started: {format_load(os.getloadavg())} "
        "(other work on the machine competes with the benchmarks; see each run's load below)",
    ]


def format_load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


# ------------------------------------------------------------------------------ the report
def ratio_range(output: str) -> str:
    """The smallest and largest ratio to a floor printed in a script's tables ("1.57x", "× 6.2")."""
    ratios = [float(a or b) for a, b in RATIO.findall(output)]
    if not ratios:
        return "-"
    return f"{min(ratios):.2f}–{max(ratios):.2f}"


def summary_table(runs: list[Run]) -> list[str]:
    lines = ["| benchmark | status | wall s | CPU s | peak RSS MB | ratios to floor |",
             "|---|---|---:|---:|---:|---|"]
    for run in runs:
        if not run.present:
            lines.append(f"| {run.benchmark.script} | {run.status} | - | - | - | - |")
            continue
        lines.append(f"| {run.benchmark.script} | {run.status} | {run.wall_s:.0f} | {run.cpu_s:.0f} | "
                     f"{run.peak_rss_mb:.0f} | {ratio_range(run.stdout)} |")
    return lines


def headlines(runs: list[Run]) -> list[str]:
    lines = []
    for run in runs:
        for line in run.stdout.splitlines():
            if HEADLINE.match(line):
                lines.append(f"- `{run.benchmark.script}`: {line.strip()}")
    return lines


def section(run: Run) -> list[str]:
    lines = [f"## {run.benchmark.script} — {run.benchmark.title}", ""]
    if not run.present:
        return [*lines, "Not present in this checkout: skipped.", ""]
    command = " ".join(["python", f"benchmarks/{run.benchmark.script}", *run.benchmark.arguments])
    lines += [f"`{command}` — {run.status}; {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, "
              f"peak RSS {run.peak_rss_mb:.0f} MB; load average {format_load(run.load_before)} before, "
              f"{format_load(run.load_after)} after.", ""]
    if run.stdout.strip():
        lines += ["```", run.stdout.rstrip(), "```", ""]
    if not run.ok:
        lines += ["Its last error output:", "", "```", run.stderr_tail.strip() or "(none)", "```", ""]
    return lines


def render(runs: list[Run], started: datetime.datetime) -> str:
    lines = [
        "# photostage benchmarks",
        "",
        f"Generated by `benchmarks/report.py` on {started:%Y-%m-%d %H:%M} UTC. Every table below is the "
        "verbatim output of its script; floors are measured in the same run on the same machine, so "
        "the ratios hold across machines better than the milliseconds do.",
        "",
        "## Machine",
        "",
        *machine_lines(),
        "",
        "## Summary",
        "",
        *summary_table(runs),
        "",
        "Peak RSS is the benchmark process's own (for load.py and throughput.py, the largest of it and "
        "the servers/workers it started and reaped).",
        "",
        *headlines(runs),
        "",
    ]
    for run in runs:
        lines += section(run)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=None, help="Run only these scripts (names without .py).")
    parser.add_argument("--timeout", type=float, default=1200.0, help="Seconds each script may run.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC)
    runs = []
    for benchmark in discover(args.only):
        print(f"running {benchmark.script} ...", flush=True)
        run = run_one(benchmark, args.timeout)
        print(f"  {run.status} in {run.wall_s:.0f} s", flush=True)
        runs.append(run)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(runs, started))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
