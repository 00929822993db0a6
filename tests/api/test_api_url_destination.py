"""``output.destination`` as an http(s) URL: each result uploaded by one PUT through the
SSRF-guarded connection, named like storage destinations; a pre-signed URL takes one image as it
is and its signature is never echoed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.storage.naming import output_urls

from .test_api_scene import effect_body  # noqa: TID252


@dataclass
class Receiver:
    url: str
    puts: list[tuple[str, str, bytes]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server that records every PUT (and answers ``status``)."""
    record = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            record.puts.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(record.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def client_for(tmp_path: Path, allow: bool) -> tuple[TestClient, dict[str, str]]:
    settings = Settings(data_dir=tmp_path / "data", rate_limit={"enabled": False},
                        sources={"allow_hosts": ["127.0.0.1"] if allow else []})
    app = create_app(settings)
    secret, _ = app.state.services.keys.create("t")
    return TestClient(app), {"Authorization": f"Bearer {secret}"}


def test_output_urls_follow_the_storage_naming_rules() -> None:
    assert output_urls("https://h.test/renders/", "r1", 2, "png") == [
        "https://h.test/renders/r1_0.png", "https://h.test/renders/r1_1.png"]
    assert output_urls("https://h.test/a/photo.jpg", "r1", 1, "png") == ["https://h.test/a/photo.png"]
    assert output_urls("https://h.test/a/photo.jpg", "r1", 2, "jpeg") == [
        "https://h.test/a/photo_0.jpg", "https://h.test/a/photo_1.jpg"]
    signed = "https://b.s3.test/a/photo.png?X-Amz-Signature=abc&X-Amz-Expires=60"
    assert output_urls(signed, "r1", 1, "png") == [signed]
    with pytest.raises(ValueError, match="pre-signed"):
        output_urls(signed, "r1", 2, "png")


def test_results_are_put_at_the_url(tmp_path: Path, receiver: Receiver, product_uri: str) -> None:
    client, auth = client_for(tmp_path, allow=True)
    with client:
        body = effect_body(product_uri, destination=receiver.url + "/renders/")
        body["output"]["number_of_images"] = 2  # type: ignore[index]
        response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 200, response.text
    outputs = response.json()["data"]["output"]
    assert sorted(path for path, _, _ in receiver.puts) == sorted(
        "/" + output["object_key"] for output in outputs)
    assert all(kind == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n" for _, kind, data in receiver.puts)
    assert all(output["tmp_url"] == "" and output["object_uri"].startswith(receiver.url + "/renders/")
               for output in outputs)


def test_a_presigned_url_takes_one_image_and_its_signature_is_not_echoed(
    tmp_path: Path, receiver: Receiver, product_uri: str
) -> None:
    client, auth = client_for(tmp_path, allow=True)
    signed = receiver.url + "/bucket/photo.png?X-Amz-Signature=s3cr3t&X-Amz-Expires=60"
    with client:
        one = client.post("/v1/scene/create", json=effect_body(product_uri, destination=signed), headers=auth)
        body = effect_body(product_uri, destination=signed)
        body["output"]["number_of_images"] = 2  # type: ignore[index]
        two = client.post("/v1/scene/create", json=body, headers=auth)
    assert one.status_code == 200, one.text
    assert [path for path, _, _ in receiver.puts] == ["/bucket/photo.png?X-Amz-Signature=s3cr3t&X-Amz-Expires=60"]
    assert "s3cr3t" not in one.text
    assert two.status_code == 422 and "pre-signed" in two.json()["error_details"]["output.destination"][0]


def test_a_refused_upload_is_a_clear_4xx(tmp_path: Path, receiver: Receiver, product_uri: str) -> None:
    receiver.status = 403
    client, auth = client_for(tmp_path, allow=True)
    with client:
        body = effect_body(product_uri, destination=receiver.url + "/x.png?sig=k3y")
        response = client.post("/v1/scene/create", json=body, headers=auth)
    assert response.status_code == 400 and response.json()["error_code"] == "5006"
    assert "HTTP 403" in response.json()["error_message"] and "k3y" not in response.text


def test_private_destinations_are_refused_before_any_connection(
    tmp_path: Path, receiver: Receiver, product_uri: str
) -> None:
    client, auth = client_for(tmp_path, allow=False)
    with client:
        response = client.post("/v1/scene/create", json=effect_body(product_uri, destination=receiver.url + "/x.png"),
                               headers=auth)
    assert response.status_code == 400 and response.json()["error_code"] == "3001"
    assert "output.destination" in response.json()["error_details"]
    assert receiver.puts == []  # the loopback canary saw nothing


def test_other_schemes_are_refused(tmp_path: Path, product_uri: str) -> None:
    client, auth = client_for(tmp_path, allow=True)
    with client:
        response = client.post("/v1/scene/create", json=effect_body(product_uri, destination="ftp://h.test/x.png"),
                               headers=auth)
    assert response.status_code == 422 and "https://" in response.json()["error_details"]["output.destination"][0]
