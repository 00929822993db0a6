"""Claid's documented example request, with its image URLs pointed at a loopback server,
answers 200 with the images it asks for; the response has the documented shape."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..conftest import make_product, png_bytes  # noqa: TID252

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "product.png").write_bytes(png_bytes(make_product(773 // 2, 2351 // 4)))
    template = np.zeros((768, 1024, 4), np.uint8)
    template[..., :3] = np.linspace(200, 120, 768, dtype=np.uint8)[:, None, None]
    template[..., 3] = 255
    (root / "docs" / "scene.png").write_bytes(png_bytes(template))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_claid_example_request(client, auth, image_server):
    body = json.loads((FIXTURES / "example-request.json").read_text())
    body["object"]["image_url"] = f"{image_server}/docs/product.png"
    body["scene"]["template_url"] = f"{image_server}/docs/scene.png"
    response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 200, response.text
    documented = json.loads((FIXTURES / "example-response.json").read_text())
    data = response.json()["data"]
    assert set(data) >= set(documented["data"])
    assert set(data["input"]) == set(documented["data"]["input"])
    assert data["input"]["format"] == "PNG"
    assert len(data["output"]) == body["output"]["number_of_images"]
    output = data["output"][0]
    assert set(output) >= set(documented["data"]["output"][0])
    assert output["format"] == "PNG" and output["ext"] == "png"
    assert abs(output["width"] / output["height"] - 4 / 3) < 0.02  # the template's aspect
    assert 0.9 < output["mps"] < 1.1
    url = output["tmp_url"].split("://", 1)[1].split("/", 1)[1]
    image = Image.open(io.BytesIO(client.get("/" + url).content))
    assert image.size == (output["width"], output["height"])
