"""`photostage doctor`: is this installation able to serve? One table of checks, ok/warn/fail.

An operator runs it after installing or changing configuration, before the first request finds
the problem: a codec Pillow was built without, a model whose engine cannot load, a database or
Redis that cannot be reached, a data directory that cannot be written. It is fast (a few hundred
milliseconds beyond imports) and touches nothing but a probe file in the data directory and the
database it is configured with. Optional packages are checked by ``find_spec`` only, so heavy
ones (torch, pymatting's numba kernels) are neither imported nor compiled. Exit code 1 when any
check fails.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from photostage.config import Settings

Status = Literal["ok", "warn", "fail"]
STATUS_STYLE: dict[Status, str] = {"ok": "green", "warn": "yellow", "fail": "bold red"}
REQUIRED_PACKAGES = (
    ("numpy", ("numpy",)),
    ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless")),
    ("pillow", ("pillow",)),
    ("pillow-heif", ("pillow-heif",)),
    ("fastapi", ("fastapi",)),
    ("pydantic", ("pydantic",)),
    ("sqlalchemy", ("sqlalchemy",)),
)
OPTIONAL_PACKAGES = (
    ("pymatting", "cut-out matting refinement"),
    ("onnxruntime", "the neural cut-out engine"),
    ("torch", "the diffusion scene engine"),
    ("diffusers", "the diffusion scene engine"),
    ("celery", "jobs.runner = celery"),
    ("redis", "jobs.runner = celery"),
    ("s3fs", "s3 storages"),
    ("gcsfs", "gcs storages"),
    ("psycopg", "a PostgreSQL database"),
)
ENCODED_FORMATS = ("png", "jpeg", "webp", "avif", "tiff")
PROBE_SIZE = (48, 32)  # width, height: small enough to encode AVIF/HEIC in milliseconds
REDIS_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(check.status == "fail" for check in self.checks)

    def as_json(self) -> dict[str, object]:
        return {"ok": not self.failed, "checks": [asdict(check) for check in self.checks]}


# ---------------------------------------------------------------------------------- versions
def check_python() -> Check:
    return Check("python", "ok", f"{platform.python_version()} ({platform.python_implementation()})")


def installed_version(distributions: tuple[str, ...]) -> str | None:
    """The version of the first of these distributions that is installed (opencv ships as several)."""
    for distribution in distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def check_required_packages() -> list[Check]:
    checks = []
    for label, distributions in REQUIRED_PACKAGES:
        version = installed_version(distributions)
        if version is None:
            checks.append(Check(f"package {label}", "fail", "not installed"))
        else:
            checks.append(Check(f"package {label}", "ok", version))
    return checks


def check_optional_packages() -> list[Check]:
    """Importable or not, without importing: find_spec reads only the import path."""
    checks = []
    for module, needed_for in OPTIONAL_PACKAGES:
        if importlib.util.find_spec(module) is None:
            checks.append(Check(f"optional {module}", "warn", f"not installed (needed for {needed_for})"))
        else:
            version = installed_version((module,)) or "installed"
            checks.append(Check(f"optional {module}", "ok", version))
    return checks


# ------------------------------------------------------------------------------------ codecs
def probe_image() -> np.ndarray:
    """A small RGBA gradient with a transparent corner, so alpha paths are exercised too."""
    width, height = PROBE_SIZE
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    rgba = np.dstack([xs, ys, 255 - xs, np.full_like(xs, 255)]).astype(np.uint8)
    rgba[: height // 4, : width // 4, 3] = 0
    return rgba


def check_encode_round_trip(fmt: str, rgba: np.ndarray) -> Check:
    from photostage.imaging.codecs import EncodeOptions, decode, encode

    started = time.perf_counter()
    encoded = encode(rgba, EncodeOptions(format=fmt))  # type: ignore[arg-type]
    decoded = decode(encoded.data, max_pixels=rgba.shape[0] * rgba.shape[1])
    elapsed_ms = (time.perf_counter() - started) * 1000
    if (decoded.width, decoded.height) != PROBE_SIZE:
        size = f"{decoded.width}×{decoded.height}"
        return Check(f"codec {fmt}", "fail", f"round trip changed the size to {size}")
    return Check(f"codec {fmt}", "ok", f"encode + decode, {len(encoded.data)} bytes, {elapsed_ms:.0f} ms")


def heic_bytes(rgba: np.ndarray) -> bytes:
    import pillow_heif
    from PIL import Image

    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgba[..., :3])).save(buffer, quality=80)
    return buffer.getvalue()


def check_heic_decode(rgba: np.ndarray) -> Check:
    """HEIC is an input format only: write one with pillow-heif and decode it as a request would."""
    from photostage.imaging.codecs import decode

    started = time.perf_counter()
    data = heic_bytes(rgba)
    decoded = decode(data, max_pixels=rgba.shape[0] * rgba.shape[1])
    elapsed_ms = (time.perf_counter() - started) * 1000
    if (decoded.width, decoded.height) != PROBE_SIZE:
        return Check("codec heic", "fail", f"decode gave {decoded.width}×{decoded.height}")
    return Check("codec heic", "ok", f"decode ({decoded.format}), {elapsed_ms:.0f} ms")


def check_codecs() -> list[Check]:
    rgba = probe_image()
    checks = [
        guarded(f"codec {fmt}", partial(check_encode_round_trip, fmt, rgba)) for fmt in ENCODED_FORMATS
    ]
    checks.append(guarded("codec heic", lambda: check_heic_decode(rgba)))
    return checks


def check_opencv_threads() -> Check:
    import cv2

    return Check("opencv threads", "ok", f"{cv2.getNumThreads()} (of {cv2.getNumberOfCPUs()} CPUs)")


# ----------------------------------------------------------------------------------- engines
def check_scene_models(settings: Settings, warm: bool = False) -> list[Check]:
    """Each configured model name: warn when its engine cannot run here (requests for it get 422),
    or runs somewhere slow (diffusion on the CPU); say where engines with weights run and whether
    they are loaded. ``warm`` loads the weights now and paints one small test image with them."""
    from photostage.scenes.registry import build_scene_engines

    engines = build_scene_engines(settings)
    checks = []
    if warm:
        for name, engine in engines.engines.items():
            if callable(getattr(engine, "warm", None)) and engine.available():
                checks.append(guarded(f"weights {name}", partial(warm_engine, name, engine)))
    for model in engines.describe():
        status = model.status
        where = _where(status)
        if not model.available:
            reason = status.get("reason") or "not available"
            checks.append(Check(f"model {model.name}", "warn", f"engine {model.engine}: {reason}"))
        elif status.get("warning"):
            checks.append(Check(f"model {model.name}", "warn", f"engine {model.engine}{where}: {status['warning']}"))
        else:
            checks.append(Check(f"model {model.name}", "ok", f"engine {model.engine}{where}"))
    return checks


def _where(status: dict[str, object]) -> str:
    parts = []
    if status.get("device"):
        parts.append(f"on {status['device']}" + (f" ({status['dtype']})" if status.get("dtype") else ""))
    if status.get("weights"):
        parts.append(f"weights {status['weights']}")
    if status.get("memory_plan"):
        parts.append(str(status["memory_plan"]))
    return f", {', '.join(parts)}" if parts else ""


def warm_engine(name: str, engine: object) -> Check:
    """Load an engine's weights and paint one 64×64 test image in one step: proof they run here."""
    from photostage.scenes.base import PlacedObject, RenderJob, SceneSpec

    started = time.perf_counter()
    loaded = engine.warm()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - started
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[20:52, 24:40] = (180, 60, 50, 255)
    options: dict[str, object] = {"steps": 1, "max_side": 64, "outline_check": False}
    job = RenderJob(scene=SceneSpec(kind="prompt", prompt="doctor test", model_options=options), width=64,
                    height=64, product=PlacedObject(rgba, (24, 20, 40, 52)), seed=1)
    started = time.perf_counter()
    engine.render(job)  # type: ignore[attr-defined]
    paint_ms = (time.perf_counter() - started) * 1000
    status = loaded.status()
    return Check(f"weights {name}", "ok", f"loaded on {status['device']} ({status['dtype']}) in {load_s:.1f} s, "
                 f"{status['weights_gib']} GiB, {status['memory_plan']}; a 64² test image in {paint_ms:.0f} ms")


def check_cutout_engine(settings: Settings) -> Check:
    from photostage.cutout.registry import build_cutout_engine

    name = f"cutout engine {settings.cutout.engine}"
    try:
        engine = build_cutout_engine(settings.cutout)
    except ValueError as error:
        return Check(name, "fail", str(error))
    if not engine.available():
        return Check(name, "fail", "not available")
    label = getattr(engine, "label", None)
    via = f"{settings.cutout.engine} → " if settings.cutout.engine != engine.name else ""
    detail = f"{via}{engine.name}{f' (model {label})' if label else ''}, available (mode {settings.cutout.mode})"
    return Check(f"cutout engine {engine.name}", "ok", detail)


# -------------------------------------------------------------------------------- state, I/O
def check_data_dir(data_dir: Path) -> Check:
    """The server keeps its database, secrets, results and storage here: it must be writable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as error:
        return Check("data dir", "fail", f"{data_dir} is not writable: {error}")
    return Check("data dir", "ok", f"{data_dir} is writable")


def redacted_url(url: str) -> str:
    """A database or Redis URL without its password, fit to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown only by its scheme
        return url.split("://", 1)[0] + "://…"


def check_database(settings: Settings) -> Check:
    from sqlalchemy import create_engine, text

    url = settings.sqlalchemy_url
    connect_args = {"connect_timeout": 2} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any driver error means unreachable, and is reported
        return Check("database", "fail", f"{redacted_url(url)}: {error_line(error)}")
    finally:
        engine.dispose()
    return Check("database", "ok", f"{redacted_url(url)} answers SELECT 1")


def check_redis(settings: Settings) -> Check:
    """Redis carries the celery queue; with the local runner it is not needed and never a failure."""
    needed = settings.jobs.runner == "celery"
    url = redacted_url(settings.jobs.redis_url)
    problem_status: Status = "fail" if needed else "ok"
    unused = "" if needed else " (not needed: jobs.runner = local)"
    if importlib.util.find_spec("redis") is None:
        return Check("redis", "fail" if needed else "warn", f"the redis package is not installed{unused}")
    import redis

    client = redis.Redis.from_url(
        settings.jobs.redis_url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as error:
        return Check("redis", problem_status, f"{url} not reachable: {error}{unused}")
    finally:
        client.close()
    return Check("redis", "ok", f"{url} answers PING{unused}")


def check_storages(settings: Settings) -> list[Check]:
    """Server-wide connectors: a local root must exist or be creatable under a writable parent; what
    lies outside the account namespaces (the legacy area) is counted, with who may read it."""
    from photostage.storage.local import legacy_entries

    checks = []
    for name, connector in settings.storage.connectors.items():
        root = connector.root
        existing = next((path for path in (root, *root.parents) if path.exists()), None)
        if existing is None or not existing.is_dir():
            checks.append(Check(f"storage {name}", "fail", f"{connector.type} at {root}: no directory"))
        elif not _writable(existing):
            detail = f"{connector.type} at {root}: {existing} is not writable"
            checks.append(Check(f"storage {name}", "fail", detail))
        else:
            state = "exists" if root.exists() else "created on first write"
            legacy = legacy_entries(root)
            owner = settings.storage.legacy_owner
            reader = "the first account" if owner is None else ("no account" if owner == 0 else f"account {owner}")
            if legacy:
                state += (f"; {len(legacy)} entries outside the account namespaces (legacy area), "
                          f"readable by {reader} (PHOTOSTAGE_STORAGE__LEGACY_OWNER)")
            checks.append(Check(f"storage {name}", "ok", f"{connector.type} at {root} ({state})"))
    if not checks:
        checks.append(Check("storages", "warn", "no server-wide storage connectors configured"))
    return checks


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


# ------------------------------------------------------------------------------------ report
def error_line(error: BaseException) -> str:
    """An exception as one line of a table cell: its type and the first line of its message."""
    return f"{type(error).__name__}: {error}".splitlines()[0]


def guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that raises is itself a failure, reported, not a crash of the doctor."""
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - every failure becomes a line of the report
        return Check(name, "fail", error_line(error))


def guarded_many(name: str, checks: Callable[[], list[Check]]) -> list[Check]:
    try:
        return checks()
    except Exception as error:  # noqa: BLE001
        return [Check(name, "fail", error_line(error))]


def run_checks(settings: Settings, warm: bool = False) -> Report:
    checks: list[Check] = [check_python()]
    checks += guarded_many("packages", check_required_packages)
    checks += check_codecs()
    checks.append(guarded("opencv threads", check_opencv_threads))
    checks += guarded_many("optional packages", check_optional_packages)
    checks += guarded_many("models", lambda: check_scene_models(settings, warm))
    checks.append(guarded("cutout engine", lambda: check_cutout_engine(settings)))
    checks.append(guarded("data dir", lambda: check_data_dir(settings.data_dir)))
    checks.append(guarded("database", lambda: check_database(settings)))
    checks.append(guarded("redis", lambda: check_redis(settings)))
    checks += guarded_many("storages", lambda: check_storages(settings))
    return Report(tuple(checks))


def report_table(report: Report) -> Table:
    table = Table("check", "status", "detail", title="photostage doctor")
    for check in report.checks:
        style = STATUS_STYLE[check.status]
        table.add_row(check.name, f"[{style}]{check.status}[/]", check.detail)
    return table


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to the CLI (called by photostage.cli)."""

    @app.command()
    def doctor(
        json_output: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="State directory (default $PHOTOSTAGE_DATA_DIR or ./data)."),
        ] = None,
        warm: Annotated[
            bool, typer.Option("--warm", help="Load the diffusion weights and paint one small test image with them.")
        ] = False,
    ) -> None:
        """Check this installation: packages, codecs, engines, data dir, database, Redis, storages."""
        settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
        report = run_checks(settings, warm)
        if json_output:
            typer.echo(json.dumps(report.as_json(), indent=2))
        else:
            console = Console()
            console.print(report_table(report))
            console.print("[bold red]some checks failed[/]" if report.failed else "[green]ready to serve[/]")
        if report.failed:
            raise typer.Exit(1)
