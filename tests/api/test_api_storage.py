"""The storage API and scene outputs to storage: local and S3 (moto server on loopback),
response fields right for each, and one account never reaching another's storage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import local_namespace, moto_s3  # noqa: TID252

BUCKET = "photostage-test"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3(BUCKET, "test-secret") as endpoint:
        yield endpoint


def s3_storage(endpoint: str, name: str = "shots") -> dict[str, object]:
    return {"name": name, "type": "s3", "parameters": {
        "bucket": BUCKET, "path": "renders", "endpoint_url": endpoint, "region": "us-east-1",
        "credentials": {"access_key": "test", "secret_access_key": "test-secret"}}}


def test_storage_types(client, auth):
    response = client.get("/v1/storage/storage-types", headers=auth)
    assert response.status_code == 200
    assert set(response.json()["data"]) >= {"web_folder", "s3", "gcs"}


def test_crud_never_returns_secrets(client, auth, moto_endpoint):
    created = client.post("/v1/storage/storages", json=s3_storage(moto_endpoint), headers=auth)
    assert created.status_code == 200, created.text
    assert "test-secret" not in created.text
    storage = created.json()["data"]
    assert storage["parameters"]["credentials"] == {"access_key": "test"}
    listed = client.get("/v1/storage/storages", headers=auth).json()["data"]
    assert [s["name"] for s in listed] == ["shots"] and "test-secret" not in str(listed)
    patched = client.patch(f"/v1/storage/storages/{storage['id']}", json={"name": "renders"}, headers=auth)
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "renders"
    clash = client.post("/v1/storage/storages", json=s3_storage(moto_endpoint, "renders"), headers=auth)
    assert clash.status_code == 409
    assert client.delete(f"/v1/storage/storages/{storage['id']}", headers=auth).json() == {"data": {}}
    assert client.get(f"/v1/storage/storages/{storage['id']}", headers=auth).status_code == 404


def test_type_must_match_parameters(client, auth):
    body = {"name": "web", "type": "s3", "parameters": {"base_url": "https://example.com/images/"}}
    response = client.post("/v1/storage/storages", json=body, headers=auth)
    assert response.status_code == 422 and response.json()["error_code"] == "9000"


def test_same_request_writes_to_local_and_s3(client, auth, moto_endpoint, product_uri, settings):
    assert client.post("/v1/storage/storages", json=s3_storage(moto_endpoint), headers=auth).status_code == 200
    body = {"object": {"image_url": product_uri, "scale": 0.5}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 2, "format": "jpeg", "destination": "storage://shots/out/"}}
    s3 = client.post("/v1/scene/create", json=body, headers=auth)
    assert s3.status_code == 200, s3.text
    request_id = s3.headers["x-request-id"]
    for index, output in enumerate(s3.json()["data"]["output"]):
        assert output["object_bucket"] == BUCKET
        assert output["object_key"] == f"renders/out/{request_id}_{index}.jpeg"
        assert output["object_uri"] == f"s3://{BUCKET}/renders/out/{request_id}_{index}.jpeg"
        assert output["claid_storage_uri"] == f"storage://shots/out/{request_id}_{index}.jpeg"
        assert output["tmp_url"] == ""
    import boto3

    listing = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="test",
                           aws_secret_access_key="test-secret", region_name="us-east-1").list_objects_v2(
        Bucket=BUCKET, Prefix="renders/out/")
    assert sorted(o["Key"] for o in listing["Contents"]) == [f"renders/out/{request_id}_{i}.jpeg" for i in (0, 1)]

    body["output"]["destination"] = "storage://local/out/"
    local = client.post("/v1/scene/create", json=body, headers=auth)
    assert local.status_code == 200, local.text
    request_id = local.headers["x-request-id"]
    root = local_namespace(settings)
    for index, output in enumerate(local.json()["data"]["output"]):
        assert output["object_key"] == f"out/{request_id}_{index}.jpeg"
        assert output["claid_storage_uri"] == f"storage://local/out/{request_id}_{index}.jpeg"
        assert (root / "out" / f"{request_id}_{index}.jpeg").read_bytes()[:2] == b"\xff\xd8"

    # The S3 storage reads inputs too.
    again = {"object": {"image_url": f"storage://shots/out/{request_id}_0.jpeg".replace(request_id, s3.headers[
        "x-request-id"]), "scale": 0.5}, "scene": {"effect": "shadows"}, "output": {"number_of_images": 1}}
    assert client.post("/v1/scene/create", json=again, headers=auth).status_code == 200


def test_cross_account_access_is_refused(client, app, auth, moto_endpoint, product_uri):
    created = client.post("/v1/storage/storages", json=s3_storage(moto_endpoint), headers=auth).json()["data"]
    other_secret, _ = app.state.services.keys.create("other")
    other = {"Authorization": f"Bearer {other_secret}"}
    absent_id = created["id"] + 1000
    for method in ("get", "delete", "patch"):
        kwargs = {"json": {"name": "mine"}} if method == "patch" else {}
        theirs = getattr(client, method)(f"/v1/storage/storages/{created['id']}", headers=other, **kwargs)
        absent = getattr(client, method)(f"/v1/storage/storages/{absent_id}", headers=other, **kwargs)
        assert theirs.status_code == absent.status_code == 404, (method, theirs.text)
        assert theirs.json() == {**absent.json(), "error_message": absent.json()["error_message"].replace(
            str(absent_id), str(created["id"]))}  # word for word what a missing id gets: nothing to probe
    assert client.get("/v1/storage/storages", headers=other).json()["data"] == []
    body = {"object": {"image_url": product_uri}, "scene": {"effect": "shadows"},
            "output": {"number_of_images": 1, "destination": "storage://shots/x/"}}
    response = client.post("/v1/scene/create", json=body, headers=other)
    assert response.status_code == 404 and response.json()["error_type"] == "storage"
