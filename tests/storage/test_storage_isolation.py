"""Two accounts, every storage kind — the server-wide ``local`` (its namespaces and legacy area),
S3 (moto), GCS (the emulator) and a web folder (loopback) — sync and async: neither account can
read, list, overwrite or learn the existence of the other's objects or storages. Where existence
could leak, "not yours" and "absent" answer the same, word for word but for the name asked."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photostage.api.app import create_app
from photostage.config import Settings
from photostage.contract.errors import STORAGE_BAD_PATH, STORAGE_NOT_FOUND, STORAGE_OBJECT_MISSING, PhotostageError
from photostage.storage.local import account_connector, namespace_root

from ..conftest import data_uri, make_product, moto_s3, png_bytes  # noqa: TID252
from .test_storage_conformance import GCS_BUCKET, gcs_endpoint, web_server  # noqa: F401 - fixtures

S3_BUCKET = "isolation"
S3_SECRET = "isolation-secret-0123456789"
PRODUCT = png_bytes(make_product(60, 90))
KINDS = ["local", "s3", "gcs", "web_folder"]


@dataclass
class World:
    client: TestClient
    app: Any
    settings: Settings
    a: dict[str, str]
    b: dict[str, str]

    def scene(self, who: dict[str, str], image_url: str, destination: str | None = None) -> Any:
        output: dict[str, Any] = {"number_of_images": 1, "format": "png"}
        if destination is not None:
            output["destination"] = destination
        body = {"object": {"image_url": image_url}, "scene": {"effect": "shadows"}, "output": output}
        return self.client.post("/v1/scene/create", json=body, headers=who)

    def job(self, who: dict[str, str], image_url: str, destination: str | None = None) -> dict[str, Any]:
        output: dict[str, Any] = {"number_of_images": 1, "format": "png"}
        if destination is not None:
            output["destination"] = destination
        body = {"object": {"image_url": image_url}, "scene": {"effect": "shadows"}, "output": output}
        accepted = self.client.post("/v1/scene/create/async", json=body, headers=who)
        assert accepted.status_code == 202, accepted.text
        url = f"/v1/scene/create/async/{accepted.json()['data']['id']}"
        for _ in range(12000):  # bounded by count, not by a clock
            job = self.client.get(url, headers=who).json()["data"]
            if job["status"] in ("DONE", "ERROR"):
                return job
            time.sleep(0.05)
        raise AssertionError("the job never ended")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3(S3_BUCKET, S3_SECRET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, gcs_endpoint: str,  # noqa: F811
          web_server) -> Iterator[World]:  # type: ignore[no-untyped-def]  # noqa: F811
    from photostage.storage import service as storage_service
    from photostage.storage.cloud import GCSConnector

    # GCS storages made through the API talk to Google with the account's key; here, to the
    # emulator, anonymously (resolution by account, what is tested, is the same for every kind).
    def emulated_gcs(name: str, bucket: str, prefix: str = "", **kwargs: Any) -> GCSConnector:
        return GCSConnector(name, bucket, prefix, endpoint_url=gcs_endpoint, gate=kwargs["gate"])

    patch = pytest.MonkeyPatch()
    patch.setattr(storage_service, "GCSConnector", emulated_gcs)
    settings = Settings(data_dir=tmp_path_factory.mktemp("isolation") / "data", rate_limit={"enabled": False},
                        sources={"allow_hosts": ["127.0.0.1"]}, limits={"workers": 2})
    app = create_app(settings)
    keys = app.state.services.keys
    a = {"Authorization": f"Bearer {keys.create('a')[0]}"}
    b = {"Authorization": f"Bearer {keys.create('b')[0]}"}
    origin, _ = web_server
    with TestClient(app, raise_server_exceptions=False) as client:
        made = World(client, app, settings, a, b)
        for name, body in storage_bodies(moto_endpoint, origin).items():
            response = client.post("/v1/storage/storages", json={"name": name, **body}, headers=a)
            assert response.status_code == 200, response.text
        yield made
    patch.undo()


def storage_bodies(moto: str, web: str) -> dict[str, dict[str, Any]]:
    return {
        "s3": {"type": "s3", "parameters": {"bucket": S3_BUCKET, "path": "a", "endpoint_url": moto,
                                            "region": "us-east-1",
                                            "credentials": {"access_key": "test", "secret_access_key": S3_SECRET}}},
        "gcs": {"type": "gcs", "parameters": {"bucket": GCS_BUCKET, "path": "a",
                                              "credentials": {"access_key": "GOOG1A", "secret_access_key": "x" * 40}}},
        "web_folder": {"type": "web_folder", "parameters": {"base_url": f"{web}/a/", "allow_write": True}},
    }


def same_but_for(theirs: Any, absent: Any, their_word: str, absent_word: str) -> None:
    """Two answers identical except where each names what was asked for."""
    assert theirs.status_code == absent.status_code, (theirs.text, absent.text)
    assert theirs.json() == {key: value if not isinstance(value, str) else value.replace(absent_word, their_word)
                             for key, value in absent.json().items()} or \
        str(theirs.json()).replace(their_word, "?") == str(absent.json()).replace(absent_word, "?")


@pytest.fixture(scope="module")
def written(world: World) -> dict[str, str]:
    """Account A writes one result to each kind (sync) and one more by an async job; the URIs."""
    uris: dict[str, str] = {}
    for kind in KINDS:
        name = "local" if kind == "local" else kind
        response = world.scene(world.a, data_uri(PRODUCT), f"storage://{name}/private/")
        assert response.status_code == 200, response.text
        uris[kind] = response.json()["data"]["output"][0]["claid_storage_uri"]
        job = world.job(world.a, data_uri(PRODUCT), f"storage://{name}/private-async/")
        assert job["status"] == "DONE", job
        uris[f"{kind}-async"] = job["result"]["output"][0]["claid_storage_uri"]
    return uris


@pytest.mark.parametrize("kind", KINDS)
def test_the_owner_reads_its_own_objects(world: World, written: dict[str, str], kind: str) -> None:
    for key in (kind, f"{kind}-async"):
        assert world.scene(world.a, written[key]).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_other_account_cannot_read_or_learn_of_them(world: World, written: dict[str, str], kind: str,
                                                        mode: str) -> None:
    uri = written[kind if mode == "sync" else f"{kind}-async"]
    name, path = uri.removeprefix("storage://").split("/", 1)
    absent_uri = f"storage://{name}/{path.replace('private', 'nothing-here')}" if kind == "local" else \
        f"storage://nothere/{path}"
    if mode == "sync":
        theirs, absent = world.scene(world.b, uri), world.scene(world.b, absent_uri)
        expected = STORAGE_OBJECT_MISSING if kind == "local" else STORAGE_NOT_FOUND
        assert theirs.status_code == 404 and theirs.json()["error_code"] == expected.code, theirs.text
        their_word, absent_word = (path, path.replace("private", "nothing-here")) if kind == "local" else \
            (name, "nothere")
        same_but_for(theirs, absent, their_word, absent_word)
    else:
        theirs_job, absent_job = world.job(world.b, uri), world.job(world.b, absent_uri)
        assert theirs_job["status"] == absent_job["status"] == "ERROR"
        assert theirs_job["error"]["error_code"] == absent_job["error"]["error_code"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_other_account_cannot_overwrite_them(world: World, written: dict[str, str], kind: str, mode: str) -> None:
    uri = written[kind]
    folder = uri.rsplit("/", 1)[0] + "/"
    before = world.scene(world.a, uri)
    assert before.status_code == 200
    if mode == "sync":
        attempt = world.scene(world.b, data_uri(png_bytes(make_product(50, 70, seed=9))), folder)
        status, code = attempt.status_code, attempt.json().get("error_code")
    else:
        job = world.job(world.b, data_uri(png_bytes(make_product(50, 70, seed=9))), folder)
        status, code = (200, None) if job["status"] == "DONE" else (404, job["error"]["error_code"])
    if kind == "local":
        assert status == 200  # B writes into its own namespace ...
    else:
        assert status == 404 and code == STORAGE_NOT_FOUND.code  # ... and has no storage of that name
    assert world.scene(world.a, uri).status_code == 200  # A's object is still there
    if kind == "local":
        a_file = namespace_root(world.settings.storage.connectors["local"].root, 1) / uri.split("/", 3)[3]
        assert Image.open(io.BytesIO(a_file.read_bytes())).size == (1024, 1024)


def test_storages_are_listed_and_reached_by_their_owner_only(world: World) -> None:
    mine = world.client.get("/v1/storage/storages", headers=world.a).json()["data"]
    assert sorted(storage["name"] for storage in mine) == ["gcs", "s3", "web_folder"]
    assert world.client.get("/v1/storage/storages", headers=world.b).json()["data"] == []
    absent_id = max(storage["id"] for storage in mine) + 1000
    for storage in mine:
        for method in ("get", "patch", "delete"):
            kwargs = {"json": {"name": "taken-over"}} if method == "patch" else {}
            theirs = getattr(world.client, method)(f"/v1/storage/storages/{storage['id']}", headers=world.b, **kwargs)
            absent = getattr(world.client, method)(f"/v1/storage/storages/{absent_id}", headers=world.b, **kwargs)
            same_but_for(theirs, absent, str(storage["id"]), str(absent_id))
            assert theirs.status_code == 404
    still = world.client.get("/v1/storage/storages", headers=world.a).json()["data"]
    assert [storage["name"] for storage in still] == [storage["name"] for storage in mine]


@pytest.mark.parametrize("path", [
    "../1/private/x.png", "accounts/1/private/x.png", "%2e%2e/1/private/x.png", "..%2f1/private/x.png",
    "\uff0e\uff0e/1/private/x.png", "/abs/x.png", "a\\..\\b.png", "./x.png",
])
def test_no_path_names_another_namespace(world: World, written: dict[str, str], path: str) -> None:
    response = world.scene(world.b, f"storage://local/{path}")
    assert response.status_code in (404, 422), response.text
    assert response.json()["error_code"] in (STORAGE_OBJECT_MISSING.code, STORAGE_BAD_PATH.code)


def test_a_symbolic_link_out_of_a_namespace_is_refused(world: World, written: dict[str, str]) -> None:
    root = world.settings.storage.connectors["local"].root
    b_space = namespace_root(root, 2)
    b_space.mkdir(parents=True, exist_ok=True)
    (b_space / "door").symlink_to(namespace_root(root, 1))
    target = written["local"].split("/", 3)[3]
    connector = account_connector("local", root, 2, reads_legacy=False)
    for operation in (lambda: connector.read(f"door/{target}", 1 << 20),
                      lambda: connector.write(f"door/{target}", b"x", "image/png")):
        with pytest.raises(PhotostageError) as caught:
            operation()
        assert caught.value.kind is STORAGE_BAD_PATH


def test_the_legacy_area_is_read_only_and_for_its_owner_only(world: World) -> None:
    """Files from before namespaces (outside ``accounts/``): the first account reads them; the
    second gets what an absent file gets; writes never land there."""
    root = world.settings.storage.connectors["local"].root
    (root / "old").mkdir(parents=True, exist_ok=True)
    (root / "old" / "shot.png").write_bytes(PRODUCT)
    assert world.scene(world.a, "storage://local/old/shot.png").status_code == 200
    theirs = world.scene(world.b, "storage://local/old/shot.png")
    absent = world.scene(world.b, "storage://local/old/none.png")
    assert theirs.status_code == 404
    same_but_for(theirs, absent, "shot.png", "none.png")
    assert world.scene(world.a, data_uri(PRODUCT), "storage://local/old/shot.png").status_code == 200
    assert (root / "old" / "shot.png").read_bytes() == PRODUCT  # the legacy file is untouched
    assert (namespace_root(root, 1) / "old" / "shot.png").exists()  # A's write went to its namespace
    operator = world.app.state.services.storages.resolve(0, "local")  # the local CLI reads it too
    assert operator.read("old/shot.png", 1 << 20) == PRODUCT


def test_the_legacy_owner_can_be_chosen_or_none(tmp_path: Path) -> None:
    from photostage.services import build_services

    for configured, expected in ((2, 2), (0, None)):
        settings = Settings(data_dir=tmp_path / f"d{configured}", storage={"legacy_owner": configured})
        services = build_services(settings)
        try:
            services.keys.create("first")
            services.keys.create("second")
            assert services.storages.legacy_owner() == expected
        finally:
            services.close()


def test_paths_stay_relative_to_the_namespace_on_disk(world: World, written: dict[str, str]) -> None:
    root = world.settings.storage.connectors["local"].root
    a_space, b_space = namespace_root(root, 1), namespace_root(root, 2)
    files_of_b = [path for path in b_space.rglob("*") if path.is_file()]
    assert files_of_b and all(path.resolve().is_relative_to(b_space.resolve()) for path in files_of_b)
    assert not any(os.path.commonpath([path, a_space]) == str(a_space) for path in files_of_b)
