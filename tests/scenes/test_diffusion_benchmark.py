"""benchmarks/diffusion.py runs on a CPU at its smallest setting (issue 19's acceptance): the
script calls the engine's public API, so a rename there fails here rather than on the day a GPU
is lent to run it. Nothing is timed: the figures it prints are its business."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("diffusers")
REPO = Path(__file__).resolve().parents[2]


def test_the_diffusion_benchmark_runs_at_toy_size_on_the_cpu(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO / "benchmarks" / "diffusion.py"), "--scale", "toy", "--device", "cpu",
               "--families", "sd15", "--sides", "128", "--batches", "1", "--steps", "1"]
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True,
                              timeout=900)  # a guard against a hung run, not a timing
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    rows = [line.split() for line in finished.stdout.splitlines() if line.startswith("sd15      float32")]
    assert len(rows) == 1, finished.stdout
    assert rows[0][2:5] == ["128", "1", "1"]  # side, batch, steps run
    assert "TOY SIZE" in finished.stdout and "sd15      total" in finished.stdout
