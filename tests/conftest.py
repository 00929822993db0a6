"""Shared fixtures: settings in a temporary data dir, the app, an API key, synthetic products."""

from __future__ import annotations

import base64
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from photostage.config import Settings  # noqa: E402


def make_product(width: int = 200, height: int = 300, seed: int = 0) -> np.ndarray:
    """A synthetic bottle: an opaque, shaded, textured body with an antialiased soft edge."""
    rng = np.random.default_rng(seed)
    scale = 4
    mask = np.zeros((height * scale, width * scale), np.uint8)
    cx = width * scale // 2
    body_w = int(width * scale * 0.36)
    cv2.rectangle(mask, (cx - body_w, int(height * scale * 0.35)), (cx + body_w, int(height * scale * 0.95)), 255, -1)
    cv2.ellipse(mask, (cx, int(height * scale * 0.35)), (body_w, int(height * scale * 0.12)), 0, 180, 360, 255, -1)
    neck = int(width * scale * 0.12)
    cv2.rectangle(mask, (cx - neck, int(height * scale * 0.08)), (cx + neck, int(height * scale * 0.3)), 255, -1)
    alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    shade = 0.55 + 0.45 * np.cos(xs * 1.3)
    base = np.array([40, 120, 200], np.float32)
    rgb = base[None, None, :] * shade[..., None] + rng.normal(0, 6, (height, width, 3))
    rgb = np.clip(np.broadcast_to(rgb, (height, width, 3)), 0, 255).astype(np.uint8)
    return np.dstack([rgb, alpha])


@contextmanager
def moto_s3(bucket: str, secret: str) -> Iterator[str]:
    """A real S3-protocol server (moto) on 127.0.0.1 with ``bucket`` created for access key
    ``test`` / ``secret``; yields its endpoint URL. Skips when the s3 extra is not installed."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key=secret,
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


def loopback_listener() -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1 and kept open (so no other process, such as
    a second copy of the suite, can take the port between choosing it and serving on it)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    return listener


def listener_url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def uvicorn_thread(app: object, listener: socket.socket, lifespan: str = "auto") -> Iterator[str]:
    """``app`` served by uvicorn on a thread, on ``listener``; yields its base URL. Waiting for
    start-up is bounded only to end a broken test, never to judge speed."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 300
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the test server did not start")
            time.sleep(0.02)
        yield listener_url(listener)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()


def loopback_gate():  # -> AddressGate
    """The connect-time address gate of a server whose operator allows 127.0.0.1 (the loopback
    test servers: moto, the GCS emulator, web folders), and nothing else private."""
    from photostage.sources.addresses import AllowList
    from photostage.sources.guard import AddressGate, system_resolver

    return AddressGate(allow_list=AllowList.parse(("127.0.0.1",)), resolver=system_resolver)


def local_namespace(settings: Settings, account_id: int = 1) -> Path:
    """Where ``storage://local/`` of ``account_id`` (the first account by default) is on disk."""
    from photostage.storage.local import namespace_root

    return namespace_root(settings.storage.connectors["local"].root, account_id)


def png_bytes(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def product_rgba() -> np.ndarray:
    return make_product()


@pytest.fixture
def product_uri(product_rgba: np.ndarray) -> str:
    return data_uri(png_bytes(product_rgba))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        rate_limit={"enabled": False},
        sources={"allow_hosts": ["127.0.0.1"]},
        limits={"workers": 2},
    )


@pytest.fixture
def app(settings: Settings):  # -> FastAPI
    from photostage.api.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api_key(app) -> str:  # type: ignore[no-untyped-def]
    secret, _ = app.state.services.keys.create("test")
    return secret


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
