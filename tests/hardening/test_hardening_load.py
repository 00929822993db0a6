"""A small version of benchmarks/load.py: photostage under uvicorn on 127.0.0.1, offered several
times what two workers can do for a few seconds. Every answer is a 200, a 429 or a 503 (nothing
else, no dropped connection), and the server is healthy afterwards."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

LOAD_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
OFFERED_RPS = 60.0
DURATION_S = 4.0


def load_module() -> ModuleType:
    """benchmarks/ is not a package: import the script by path, under a name of its own."""
    name = "photostage_benchmarks_load"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, LOAD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_overload_answers_only_200_429_503_and_the_server_survives(tmp_path: Path) -> None:
    load = load_module()
    body = load.scene_body()

    async def scenario(server: object) -> tuple[object, bool]:
        result = await load.open_loop(server, body, OFFERED_RPS, DURATION_S, 400, "overload")
        return result, await load.healthy_after(server, body)

    with load.running_server(tmp_path / "server", load.RAISED_LIMITS) as server:
        result, healthy = asyncio.run(scenario(server))
        assert server.process.poll() is None, "the server died"
    print(f"\n{result.sent} requests: {result.statuses}, p50 {result.p50_ms:.0f} ms, "
          f"peak RSS {result.peak_rss_mb:.0f} MB")
    assert result.failures == {}, result.failures
    assert set(result.statuses) <= {200, 429, 503}, result.statuses
    assert result.statuses.get(200, 0) > 0
    assert result.sent == round(OFFERED_RPS * DURATION_S)
    assert healthy


def test_per_key_limits_answer_429_by_count_not_by_timing(tmp_path: Path) -> None:
    """30 requests from 4 connections (fewer than the door's 8 places, so nothing is shed) against
    5 a minute: the first 5 are served and the rest refused with 429, however slowly the machine
    runs. The bound comes from the window's definition: in E seconds a 60 s window lets through
    at most 5 × (1 + E // 60). Load figures (rates, latencies) are benchmarks/load.py's business."""
    load = load_module()
    body = load.scene_body()
    per_minute, sent = 5, 30
    with load.running_server(tmp_path / "server", (per_minute, 10**6)) as server:
        result = asyncio.run(load.open_loop(server, body, 1000.0, 1.0, sent, "limited", in_flight=4))
    assert result.failures == {}
    assert result.sent == sent and sum(result.statuses.values()) == sent
    assert set(result.statuses) <= {200, 429}, result.statuses
    windows = 1 + int(result.elapsed_s // 60)
    assert per_minute <= result.statuses.get(200, 0) <= per_minute * windows, result.statuses
