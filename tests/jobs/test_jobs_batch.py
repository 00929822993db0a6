"""``photostage batch``: input parsing, resuming after an interruption, and the command itself
against a real HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photostage.batch import (
    BatchInputError,
    BatchItem,
    BatchRun,
    BatchState,
    ServerClient,
    body_from_row,
    default_manifest,
    idempotency_key,
    keyed,
    read_requests,
)
from photostage.config import Settings
from photostage.jobs.service import JobService

from ..conftest import loopback_listener, uvicorn_thread  # noqa: TID252
from .test_jobs_api import FAST, Api, open_api
from .test_jobs_support import FakePipeline, effect_body


def fake_jobs(services) -> JobService:  # type: ignore[no-untyped-def]
    return JobService(services.settings, FAST, services.sessions, services.keys, services.credits, FakePipeline())


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from open_api(settings, fake_jobs)


def write_jsonl(path: Path, bodies: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(body) for body in bodies) + "\n")
    return path


def test_csv_rows_become_request_bodies(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(
        "image_url,prompt,effect,template_url,seed,number_of_images,format,scale,position_x,destination\n"
        "https://x.test/a.png,a marble table,,,3,2,jpeg,0.5,0.25,storage://local/out/\n"
        "https://x.test/b.png,,shadows,,,,,,,\n"
        "https://x.test/c.png,,,https://x.test/room.jpg,,,,,,\n"
    )
    items = read_requests(path)
    assert [item.line for item in items] == [2, 3, 4]
    assert items[0].body == {
        "object": {"image_url": "https://x.test/a.png", "scale": 0.5, "position": {"x": 0.25, "y": 0.5}},
        "scene": {"prompt": "a marble table", "seed": 3},
        "output": {"number_of_images": 2, "format": "jpeg", "destination": "storage://local/out/"},
    }
    assert items[1].body == {"object": {"image_url": "https://x.test/b.png"}, "scene": {"effect": "shadows"}}
    assert items[2].body["scene"] == {"template_url": "https://x.test/room.jpg", "view": "front"}
    with pytest.raises(ValueError, match="image_url"):
        body_from_row({"prompt": "x"})
    with pytest.raises(ValueError, match="unknown column"):
        body_from_row({"image_url": "https://x.test/a.png", "colour": "#fff"})


def test_jsonl_lines_are_numbered_and_bad_lines_named(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(effect_body()) + "\n\n" + json.dumps(effect_body(images=2)) + "\n")
    assert [(item.line, item.body["output"]["number_of_images"]) for item in read_requests(path)] == [(1, 1), (3, 2)]
    path.write_text(json.dumps(effect_body()) + "\n{not json\n")
    with pytest.raises(BatchInputError, match=":2:"):
        read_requests(path)


class Interrupting(ServerClient):
    """Dies (like Ctrl-C) on the n-th submission, before or after the server saw it."""

    def __init__(self, inner: ServerClient, at: int, after_sending: bool) -> None:
        super().__init__(inner.http)
        self.at = at
        self.after_sending = after_sending
        self.count = 0

    def submit(self, body: dict, key: str) -> dict:
        self.count += 1
        if self.count == self.at:
            if self.after_sending:
                super().submit(body, key)
            raise KeyboardInterrupt
        return super().submit(body, key)


@pytest.mark.parametrize("after_sending", [False, True])
def test_an_interrupted_batch_resumes_without_duplicates(api: Api, tmp_path: Path, after_sending: bool) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [effect_body(images=1 + index % 2) for index in range(6)])
    manifest = tmp_path / "out.jsonl"
    key = api.key()
    api.client.headers.update(key)
    items = read_requests(source)
    client = ServerClient(api.client, sleep=lambda seconds: None)
    with pytest.raises(KeyboardInterrupt):
        BatchRun(Interrupting(client, 4, after_sending), source, items, BatchState.load(manifest),
                 window=2, poll_s=0.01).run()
    state = BatchState.load(manifest)
    assert 2 <= len(state.submitted) <= 3
    report = BatchRun(client, source, items, state, window=2, poll_s=0.01, sleep=time.sleep).run()
    assert report.done + report.skipped == 6 and report.failed == 0
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert sorted(row["line"] for row in rows) == [1, 2, 3, 4, 5, 6]
    assert all(row["status"] == "DONE" and len(row["result"]["output"]) in (1, 2) for row in rows)
    listed = api.client.get("/v1/scene/create/async", params={"limit": 100}).json()
    assert listed["meta"]["total"] == 6  # nothing was submitted twice
    assert {row["job_id"] for row in rows} == {job["id"] for job in listed["data"]}
    again = BatchRun(client, source, items, BatchState.load(manifest)).run()
    assert again.skipped == 6 and again.done == 0


def test_refused_requests_are_recorded_and_the_rest_goes_on(api: Api, tmp_path: Path) -> None:
    bad = effect_body()
    bad["scene"]["nonsense"] = 1
    source = write_jsonl(tmp_path / "in.jsonl", [effect_body(), bad, effect_body()])
    api.client.headers.update(api.key())
    report = BatchRun(ServerClient(api.client), source, read_requests(source),
                      BatchState.load(tmp_path / "out.jsonl"), poll_s=0.01).run()
    assert (report.done, report.failed) == (2, 1)
    rows = {row["line"]: row for row in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert rows[2]["status"] == "REJECTED" and rows[2]["error"]["error_code"] == "9000"


def test_keys_are_stable_per_file_and_content(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    (one,) = keyed(source, [BatchItem(1, {"a": 1, "b": 2})])
    assert one.key == keyed(source, [BatchItem(7, {"b": 2, "a": 1})])[0].key  # a moved line keeps its key
    assert one.key != keyed(source, [BatchItem(1, {"a": 1, "b": 3})])[0].key  # an edited one does not
    assert one.key != keyed(tmp_path / "b.jsonl", [BatchItem(1, {"a": 1, "b": 2})])[0].key
    twins = keyed(source, [BatchItem(1, {"a": 1}), BatchItem(2, {"a": 1})])
    assert twins[0].key != twins[1].key  # two identical lines are two requests
    assert idempotency_key(one) == f"batch-{one.key}"


def test_an_edited_line_is_sent_again_and_csv_and_jsonl_keep_separate_results(api: Api, tmp_path: Path) -> None:
    api.client.headers.update(api.key())
    client = ServerClient(api.client, sleep=lambda seconds: None)
    source = write_jsonl(tmp_path / "products.jsonl", [effect_body(), effect_body(images=2)])
    first = BatchRun(client, source, read_requests(source), BatchState.load(default_manifest(source)),
                     poll_s=0.01).run()
    assert first.done == 2
    write_jsonl(source, [effect_body(), effect_body(images=3)])  # the second line edited
    second = BatchRun(client, source, read_requests(source), BatchState.load(default_manifest(source)),
                      poll_s=0.01).run()
    assert (second.skipped, second.done) == (1, 1)
    rows = [json.loads(line) for line in default_manifest(source).read_text().splitlines()]
    assert len(rows[-1]["result"]["output"]) == 3  # the edited request's own result, not the old one
    csv_source = tmp_path / "products.csv"
    csv_source.write_text("image_url,effect\nhttps://x.test/a.png,shadows\n")
    assert default_manifest(csv_source) != default_manifest(source)
    assert default_manifest(source).name == "products.jsonl.results.jsonl"


def test_the_batch_command_against_a_running_server(settings: Settings, tmp_path: Path) -> None:
    import typer

    from photostage.cli.jobs import register

    for api in open_api(settings, fake_jobs):
        key = api.key()["Authorization"].removeprefix("Bearer ")
        with uvicorn_thread(api.client.app, loopback_listener(), lifespan="off") as url:
            source = write_jsonl(tmp_path / "shoot.jsonl", [effect_body() for _ in range(4)])
            app = typer.Typer()
            register(app)
            result = CliRunner().invoke(app, ["batch", str(source), "--poll-s", "0.1"],
                                        env={"PHOTOSTAGE_URL": url, "PHOTOSTAGE_API_KEY": key})
            assert result.exit_code == 0, result.output
            assert "4 done, 0 failed" in result.output
            manifest = tmp_path / "shoot.jsonl.results.jsonl"
            assert len(manifest.read_text().splitlines()) == 4
            assert len((tmp_path / "shoot.jsonl.results.jsonl.state").read_text().splitlines()) == 4
            missing_key = CliRunner().invoke(app, ["batch", str(source)], env={"PHOTOSTAGE_API_KEY": ""})
            assert missing_key.exit_code == 2
