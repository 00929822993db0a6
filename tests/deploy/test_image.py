"""The container image: `make image` builds it (podman here, from a debootstrap base it makes once
and keeps) and smoke-tests it (start, wait for the port, a scene request, its result link, the
worker command, SIGTERM). Slow: minutes the first time, about a minute and a half after that
(the base and the dependency layer are cached; only photostage's own layer is rebuilt)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = os.environ.get("CONTAINER", "podman")


def missing_tools() -> list[str]:
    needed = [ENGINE, "make"] + (["runc", "debootstrap"] if ENGINE == "podman" else [])
    return [tool for tool in needed if shutil.which(tool) is None]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_make_image_builds_and_the_image_serves_a_scene() -> None:
    if missing_tools():
        pytest.skip(f"{', '.join(missing_tools())} not installed (`make test` installs them when run as root)")
    image = f"localhost/photostage:test-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            ["make", "--no-print-directory", "image", f"IMAGE={image}", f"CONTAINER={ENGINE}"],
            cwd=REPO, capture_output=True, text=True, timeout=1700,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        assert result.stdout.rstrip().endswith("smoke test passed"), result.stdout[-2000:]
    finally:
        # Untag only: the layers stay as the build cache of the next run.
        env = {**os.environ, "CONTAINERS_CONF": str(REPO / "deploy/podman/containers.conf")}
        untag = ["untag", image] if ENGINE == "podman" else ["rmi", image]
        subprocess.run([ENGINE, *untag], capture_output=True, env=env, timeout=120)
