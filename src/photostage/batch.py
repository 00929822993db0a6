"""``photostage batch``: many scene requests through a server's async API, resumable.

Input, one request per line:

- ``.jsonl``: each line is a full request body of ``POST /v1/scene/create``.
- ``.csv``: one request per row, columns (empty cells are left out):
  ``image_url`` (required); the scene: ``prompt``, or ``effect`` (``shadows``), or
  ``template_url`` with ``view`` (default ``front``) and ``template_mode``; scene options
  ``negative_prompt``, ``color``, ``aspect_ratio``, ``preference``, ``steps``, ``model``, ``seed``;
  object options ``placement_type``, ``scale``, ``rotation_degree``, ``position_x``,
  ``position_y``, ``padding``, ``remove_background``; output options ``number_of_images``,
  ``format``, ``destination``.

Output: a manifest (jsonl, one line per finished request: ``line``, ``key``, ``job_id``,
``status``, and ``result`` or ``error``), by default ``<input file name>.results.jsonl`` beside the
input (``products.csv`` and ``products.jsonl`` never share one), and beside it a state file
(``<manifest>.state``) recording the job submitted for each request.

Every request is known by its key: the input file's path, the request's content, and how many
identical requests came before it in the file. Run the same command again after an interruption:
finished requests are skipped, submitted ones are polled rather than sent again, and every
submission carries an Idempotency-Key derived from the key, so even a request sent just before the
interruption and not yet recorded maps to the same job. A line edited between two runs is a new
request and is sent; lines moved or added around it keep their results.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from photostage.client import Client, PhotostageAPIError, RetryPolicy

FINAL = ("DONE", "ERROR", "CANCELLED")
SCENE_COLUMNS = (
    "prompt", "effect", "template_url", "view", "template_mode", "negative_prompt", "color", "aspect_ratio",
    "preference", "steps", "model", "seed",
)
OBJECT_COLUMNS = ("placement_type", "scale", "rotation_degree", "padding", "remove_background")
OUTPUT_COLUMNS = ("number_of_images", "format", "destination")
INTEGER_COLUMNS = {"steps", "seed", "number_of_images"}
FLOAT_COLUMNS = {"scale", "rotation_degree", "position_x", "position_y"}
BOOLEAN_COLUMNS = {"remove_background"}
CLOCK_MARGIN = timedelta(seconds=60)


class BatchInputError(ValueError):
    """The input file cannot be read as requests (the message names the line)."""


@dataclass(frozen=True)
class BatchItem:
    line: int
    body: dict[str, Any]
    key: str = ""  # the request's identity across runs (see the module docstring); set by keyed()


def canonical_json(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def keyed(source: Path, items: list[BatchItem]) -> list[BatchItem]:
    """Each item with its key: sha256 of the input's path, the body, and the body's occurrence
    number in the file (two identical lines are two requests)."""
    seen: dict[str, int] = {}
    out: list[BatchItem] = []
    for item in items:
        canonical = canonical_json(item.body)
        occurrence = seen.get(canonical, 0)
        seen[canonical] = occurrence + 1
        digest = hashlib.sha256(f"{source.resolve()}\n{occurrence}\n{canonical}".encode()).hexdigest()
        out.append(BatchItem(item.line, item.body, digest[:48]))
    return out


def default_manifest(source: Path) -> Path:
    """``products.jsonl`` → ``products.jsonl.results.jsonl``: one results file per input file."""
    return source.with_name(source.name + ".results.jsonl")


def _cell(column: str, value: str) -> Any:
    if column in INTEGER_COLUMNS:
        return int(value)
    if column in FLOAT_COLUMNS:
        return float(value)
    if column in BOOLEAN_COLUMNS:
        return value.strip().lower() in ("1", "true", "yes", "y")
    return value


def body_from_row(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a request body (see the module docstring for the columns)."""
    cells = {key.strip(): value.strip() for key, value in row.items() if key and value and value.strip()}
    if "image_url" not in cells:
        raise ValueError("image_url is required")
    known = {"image_url", "position_x", "position_y", *SCENE_COLUMNS, *OBJECT_COLUMNS, *OUTPUT_COLUMNS}
    unknown = sorted(set(cells) - known)
    if unknown:
        raise ValueError(f"unknown column(s): {', '.join(unknown)}")
    typed = {column: _cell(column, value) for column, value in cells.items()}
    obj: dict[str, Any] = {"image_url": typed["image_url"]}
    obj.update({column: typed[column] for column in OBJECT_COLUMNS if column in typed})
    if "position_x" in typed or "position_y" in typed:
        obj["position"] = {"x": typed.get("position_x", 0.5), "y": typed.get("position_y", 0.5)}
    scene = {column: typed[column] for column in SCENE_COLUMNS if column in typed}
    if "template_url" in scene:
        scene.setdefault("view", "front")
    body: dict[str, Any] = {"object": obj, "scene": scene}
    output = {column: typed[column] for column in OUTPUT_COLUMNS if column in typed}
    if output:
        body["output"] = output
    return body


def read_requests(path: Path) -> list[BatchItem]:
    """The requests of a ``.jsonl`` or ``.csv`` file, numbered by their line (1-based; a CSV's
    header is line 1, so its first request is line 2)."""
    items: list[BatchItem] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                try:
                    items.append(BatchItem(reader.line_num, body_from_row(row)))
                except ValueError as error:
                    raise BatchInputError(f"{path}:{reader.line_num}: {error}") from error
        return keyed(path, items)
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                body = json.loads(text)
            except json.JSONDecodeError as error:
                raise BatchInputError(f"{path}:{number}: not JSON ({error.msg})") from error
            if not isinstance(body, dict):
                raise BatchInputError(f"{path}:{number}: a request body must be a JSON object")
            items.append(BatchItem(number, body))
    return keyed(path, items)


def idempotency_key(item: BatchItem) -> str:
    """Stable per request (input file, content, occurrence): a resumed batch re-sends with the
    same key, an edited line gets a new one."""
    assert item.key, "items come keyed from read_requests/keyed"
    return f"batch-{item.key}"


# --- state and manifest -------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            if text.strip():
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interruption; it is written again


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        handle.flush()


@dataclass
class BatchState:
    """What earlier runs did: the job of each submitted request, and the requests already
    finished, by request key (records of an older format, without a key, are not matched)."""

    manifest: Path
    submitted: dict[str, str] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)

    @property
    def state_path(self) -> Path:
        return self.manifest.with_name(self.manifest.name + ".state")

    @classmethod
    def load(cls, manifest: Path) -> BatchState:
        state = cls(manifest)
        state.submitted = {str(row["key"]): str(row["job_id"]) for row in _jsonl(state.state_path) if "key" in row}
        state.finished = {str(row["key"]): str(row["status"]) for row in _jsonl(manifest) if "key" in row}
        return state

    def record_submission(self, item: BatchItem, job_id: str) -> None:
        self.submitted[item.key] = job_id
        _append(self.state_path, {"line": item.line, "key": item.key, "job_id": job_id})

    def record_outcome(self, item: BatchItem, job_id: str | None, status: str, job: dict[str, Any] | None,
                       error: dict[str, Any] | None) -> None:
        self.finished[item.key] = status
        record: dict[str, Any] = {"line": item.line, "key": item.key, "job_id": job_id, "status": status}
        if job is not None and job.get("result") is not None:
            record["result"] = job["result"]
        if error is not None or (job is not None and job.get("error") is not None):
            record["error"] = error if error is not None else job["error"]  # type: ignore[index]
        _append(self.manifest, record)


# --- the server ---------------------------------------------------------------------------------


class RequestRefused(Exception):
    """The server refused a request for good (a 4xx other than 429, or 5xx past the wait): its error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('error_message', body)}")
        self.status = status
        self.body = body


# 429 and 502-504 (a server restarting behind a proxy) are waited out, and so is a dropped
# connection: every submission carries its Idempotency-Key, so sending it again is safe.
WAIT_OUT = RetryPolicy(
    max_retries=None, statuses=frozenset({429, 502, 503, 504}), transport_errors=True, budget_s=600.0
)


def _refused(error: PhotostageAPIError) -> RequestRefused:
    body = {"error_code": error.code, "error_type": error.type, "error_message": error.message,
            "error_details": error.details}
    return RequestRefused(error.status, body)


class ServerClient:
    """The async job API through the SDK (:class:`photostage.client.Client`) over ``http``,
    waiting out 429/5xx (``Retry-After``) and network blips for up to ``max_wait_s`` in all."""

    def __init__(self, http: httpx.Client, sleep: Callable[[float], None] = time.sleep,
                 max_wait_s: float = 600.0) -> None:
        self.http = http
        self.sdk = Client(str(http.base_url), api_key=None, http=http, sleep=sleep,
                          retry=replace(WAIT_OUT, budget_s=max_wait_s))

    def submit(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            return self.sdk.create_scene_async(body, idempotency_key=key).data.model_dump(mode="json")
        except PhotostageAPIError as error:
            raise _refused(error) from None

    def get(self, job_id: str) -> dict[str, Any]:
        try:
            return self.sdk.get_job(job_id).data.model_dump(mode="json")
        except PhotostageAPIError as error:
            raise _refused(error) from None

    def finished_since(self, since: datetime, page_size: int = 100) -> list[dict[str, Any]]:
        """Every job that reached a final status at or after ``since``, oldest first."""
        jobs: list[dict[str, Any]] = []
        offset = 0
        while True:
            try:
                page = self.sdk.list_jobs(status=list(FINAL), limit=page_size, offset=offset, updated_since=since)
            except PhotostageAPIError as error:
                raise _refused(error) from None
            jobs.extend(job.model_dump(mode="json") for job in page.data)
            if len(page.data) < page_size:
                return jobs
            offset += page_size


# --- the run ------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Watched:
    item: BatchItem
    seen_at: datetime  # the job's updated_at when last seen; its final change comes later


@dataclass
class BatchRun:
    """Submits what is not yet submitted (at most ``window`` jobs in flight), polls for what
    finished, and records both as it goes; ``on_change`` is called after every finished line."""

    client: ServerClient
    source: Path
    items: list[BatchItem]
    state: BatchState
    window: int = 64
    poll_s: float = 1.0
    on_change: Callable[[BatchReport], None] = lambda report: None
    sleep: Callable[[float], None] = time.sleep
    in_flight: dict[str, Watched] = field(default_factory=dict)

    def run(self) -> BatchReport:
        keys = {item.key for item in self.items}
        report = BatchReport(total=len(self.items),
                             skipped=len([key for key in self.state.finished if key in keys]))
        for item in self.items:
            if item.key not in self.state.finished and item.key in self.state.submitted:
                self._track(self.client.get(self.state.submitted[item.key]), item, report)
        waiting = [item for item in self.items
                   if item.key not in self.state.finished and item.key not in self.state.submitted]
        self.on_change(report)
        while waiting or self.in_flight:
            while waiting and len(self.in_flight) < self.window:
                self._submit(waiting.pop(0), report)
            if self.in_flight:
                self.sleep(self.poll_s)
                self._poll(report)
        return report

    def _poll(self, report: BatchReport) -> None:
        """One listing of the jobs that ended since the oldest job in flight was last seen (less a
        margin for clocks of different machines)."""
        since = min(watched.seen_at for watched in self.in_flight.values()) - CLOCK_MARGIN
        for job in self.client.finished_since(since):
            watched = self.in_flight.get(job["id"])
            if watched is not None:
                self._track(job, watched.item, report)

    def _submit(self, item: BatchItem, report: BatchReport) -> None:
        try:
            job = self.client.submit(item.body, idempotency_key(item))
        except RequestRefused as refused:
            self.state.record_outcome(item, None, "REJECTED", None, refused.body)
            report.failed += 1
            self.on_change(report)
            return
        self.state.record_submission(item, job["id"])
        self._track(job, item, report)

    def _track(self, job: dict[str, Any], item: BatchItem, report: BatchReport) -> None:
        """Record a finished job, or watch one still running."""
        if job["status"] not in FINAL:
            self.in_flight[job["id"]] = Watched(item, parse_time(job["updated_at"]))
            return
        self.in_flight.pop(job["id"], None)
        self.state.record_outcome(item, job["id"], job["status"], job, None)
        if job["status"] == "DONE":
            report.done += 1
        else:
            report.failed += 1
        self.on_change(report)
