"""Every example of the README, run as written against a server started the way `make run`
starts one, and every answer checked.

The server: ``make run PORT=<free port> DATA_DIR=<tmp>`` (``-o .venv/.installed-run``: the
virtualenv that runs this test is already installed, so make skips only the install step). The
examples: every ```sh and ```python block of README.md, in order, in one scratch folder holding
a copy of ``examples/`` and a link to ``src/`` (so they read the same relative paths as in a
clone and write nowhere in it), with ``.venv/bin`` on PATH, the printed key in
PHOTOSTAGE_API_KEY and the server's data directory in PHOTOSTAGE_DATA_DIR (what a user has after
``source .venv/bin/activate; export PHOTOSTAGE_API_KEY=…`` in the folder they ran ``make run``
in). The one substitution: ``http://127.0.0.1:8000`` becomes the test server's address.

A block that cannot run here says why in an HTML comment on the line above it
(``<!-- not run by the tests: … -->``); the quick start's ``make run``/``make test`` is what this
test itself does. Every other block must have a check in ``CHECKS`` below: a new example without
one fails this test, so every answer is looked at.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
README_URL = "http://127.0.0.1:8000"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>sh|python)\n(?P<code>.*?)```", re.S)
NOT_RUN = "<!-- not run by the tests:"
QUICK_START = "make run    # sets everything up"
START_DEADLINE_S = 900  # a bound on a cold start (imports, first database), not a timing assertion

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (VENV_BIN / "photostage").exists(), reason="needs the repository's .venv (make test)"),
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]


@dataclass(frozen=True)
class Example:
    number: int
    lang: str
    code: str


def readme_examples() -> tuple[list[Example], list[str]]:
    """The blocks to run, and the first lines of those marked as not run."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    runnable: list[Example] = []
    skipped: list[str] = []
    for number, match in enumerate(BLOCK.finditer(text)):
        code = match.group("code")
        if QUICK_START in code:
            continue
        if match.group("before").strip().startswith(NOT_RUN):
            skipped.append(code.splitlines()[0])
            continue
        runnable.append(Example(number, match.group("lang"), code))
    return runnable, skipped


@dataclass
class Server:
    url: str
    key: str
    data_dir: Path
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own group (``make run`` and what it runs): TERM, then KILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def clean_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PHOTOSTAGE_")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", COLUMNS="200")
    return env


def launch(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed-run", "run", f"PORT={port}", f"DATA_DIR={data_dir}"],
        cwd=REPO, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    log: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: log.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    return process, log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("make-run")
    for attempt in range(3):  # a free port can be taken by another process (a suite beside) first
        data_dir = base / f"data-{attempt}"  # fresh, so the first key is printed again
        port = free_port()
        process, log = launch(data_dir, port)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_DEADLINE_S
        while process.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail("make run did not answer:\n" + "".join(log))
            time.sleep(0.5)
        if process.poll() is None:
            break
        if "address already in use" not in "".join(log).lower() or attempt == 2:
            pytest.fail("make run stopped:\n" + "".join(log))
    try:
        keys = re.findall(r"ps_[A-Za-z0-9_-]{16,}", "".join(log))
        assert keys, "make run printed no API key:\n" + "".join(log)
        yield Server(url, keys[0], data_dir, process, log)
    finally:
        stop_group(process)


@dataclass
class Ran:
    stdout: str
    workdir: Path
    server: Server

    def json(self) -> dict[str, object]:
        return json.loads(self.stdout)


def run_example(example: Example, server: Server, workdir: Path) -> Ran:
    code = example.code.replace(README_URL, server.url)
    env = clean_environment()
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", PHOTOSTAGE_API_KEY=server.key,
               PHOTOSTAGE_DATA_DIR=str(server.data_dir), VIRTUAL_ENV=str(VENV_BIN.parent))
    python = [str(VENV_BIN / "python"), "-c", code]
    command = ["bash", "-eo", "pipefail", "-c", code] if example.lang == "sh" else python
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README block {example.number} failed:\n{code}\n{done.stdout}\n{done.stderr}"
    return Ran(done.stdout, workdir, server)


# --- what each example must answer ------------------------------------------------------------


def fetch(server: Server, url: str) -> Image.Image:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, url
    return Image.open(io.BytesIO(response.content))


def first_scene(ran: Ran) -> None:
    data = ran.json()["data"]
    assert [(o["ext"], o["width"], o["height"]) for o in data["output"]] == [("jpeg", 1024, 1024)] * 2
    assert fetch(ran.server, data["output"][0]["tmp_url"]).format == "JPEG"
    assert data["input"]["width"] == 420 and data["input"]["height"] == 760  # the shipped sample


def inline_data_uri(ran: Ran) -> None:
    (output,) = ran.json()["data"]["output"]
    image = fetch(ran.server, output["tmp_url"])
    assert image.format == "PNG" and image.getpixel((3, 3))[:3] == (255, 255, 255)  # the white backdrop
    assert (ran.workdir / "body.json").stat().st_size > 30_000


def local_create(ran: Ran) -> None:
    (written,) = (ran.workdir / "out").glob("*.jpeg")
    assert Image.open(written).size == (912, 1144)  # 4:5


def sdk(ran: Ran) -> None:
    status, url = ran.stdout.split()
    assert status == "DONE" and url.startswith(ran.server.url + "/v1/tmp/")
    for index in (0, 1):
        assert Image.open(ran.workdir / f"terrazzo_{index}.webp").format == "WEBP"


def s3_storage(ran: Ran) -> None:
    data = ran.json()["data"]
    assert (data["name"], data["type"]) == ("shots", "s3")
    assert "secret_access_key" not in data["parameters"].get("credentials", {})  # never returned


def database(ran: Ran) -> None:
    assert ran.stdout.strip()


def batch(ran: Ran) -> None:
    manifest = ran.workdir / "examples" / "products.jsonl.results.jsonl"
    if not manifest.exists():
        manifest = ran.workdir / "examples" / "products.results.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert sorted(row["status"] for row in rows) == ["DONE", "DONE"], rows


def webhook_verifier(ran: Ran) -> None:
    assert ran.stdout == ""  # a definition to copy; tests/webhooks/test_webhook_signatures.py runs it


CHECKS: dict[str, Callable[[Ran], None]] = {
    "-d @examples/first-scene.json": first_scene,
    "photostage data-uri": inline_data_uri,
    "photostage create --object": local_create,
    "client.wait_for_job": sdk,
    '"type": "s3"': s3_storage,
    "photostage db upgrade": database,
    "photostage batch examples/products.jsonl": batch,
    "def verify_webhook(": webhook_verifier,
}


def check_for(example: Example) -> Callable[[Ran], None]:
    matching = [check for marker, check in CHECKS.items() if marker in example.code]
    assert len(matching) == 1, f"README block {example.number} needs exactly one check in CHECKS:\n{example.code}"
    return matching[0]


def test_every_readme_example_runs_and_answers(server: Server, tmp_path: Path) -> None:
    examples, skipped = readme_examples()
    assert len(examples) >= len(CHECKS), "a checked example disappeared from the README"
    assert len(skipped) <= 3, f"too many README blocks are not run: {skipped}"
    checks = [check_for(example) for example in examples]  # every block has a check, before running any
    workdir = tmp_path / "clone"
    workdir.mkdir()
    shutil.copytree(REPO / "examples", workdir / "examples")
    (workdir / "src").symlink_to(REPO / "src", target_is_directory=True)
    for example, check in zip(examples, checks, strict=True):
        check(run_example(example, server, workdir))


def test_the_quick_start_is_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]
