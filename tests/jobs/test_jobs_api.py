"""The async job endpoints end to end, with the real scene pipeline and the local runner."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photostage.config import Settings
from photostage.jobs.options import JobOptions
from photostage.jobs.service import JobService, build_job_service
from photostage.webhooks.delivery import SIGNATURE_HEADER, verify

from ..conftest import data_uri, local_namespace, make_product, png_bytes  # noqa: TID252
from .test_jobs_support import FakePipeline, WebhookReceiver, files_under, wait_for

# The lease outlasts any stall of a busy machine (nothing here needs one to run out).
FAST = JobOptions(lease_s=60.0, poll_s=0.05, webhook_backoff_s=0.05, local_workers=1)
FINAL = ("DONE", "ERROR", "CANCELLED")


@dataclasses.dataclass
class Api:
    client: TestClient
    services: object

    def key(self) -> dict[str, str]:
        secret, _ = self.services.keys.create("jobs-api")  # type: ignore[attr-defined]
        return {"Authorization": f"Bearer {secret}"}

    def submit(self, body: dict, headers: dict[str, str], **params: str):  # type: ignore[no-untyped-def]
        return self.client.post("/v1/scene/create/async", json=body, headers=headers, params=params)

    def job(self, job_id: str, headers: dict[str, str]) -> dict:
        response = self.client.get(f"/v1/scene/create/async/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def finished(self, job_id: str, headers: dict[str, str]) -> dict:
        return wait_for(lambda: (job := self.job(job_id, headers))["status"] in FINAL and job, 200)  # type: ignore[return-value]


def open_api(settings: Settings, jobs: Callable[[object], JobService] | None = None) -> Iterator[Api]:
    from photostage.api.app import create_app
    from photostage.services import build_services

    services = build_services(settings)
    services.jobs.stop()
    services.jobs = jobs(services) if jobs is not None else build_job_service(services, FAST)
    try:
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            yield Api(client, services)
    finally:
        services.close()


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from open_api(settings)


@pytest.fixture
def key(api: Api) -> dict[str, str]:
    return api.key()


@pytest.fixture(scope="module")
def product() -> str:
    return data_uri(png_bytes(make_product(120, 180)))


def body_for(product: str, **output: object) -> dict:
    return {"object": {"image_url": product, "scale": 0.6}, "scene": {"effect": "shadows", "seed": 7},
            "output": {"number_of_images": 1, "format": "png", **output}}


def pixels(client: TestClient, url: str) -> np.ndarray:
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"), np.int16)


def test_an_async_job_answers_with_the_sync_endpoints_data(api: Api, key: dict[str, str], product: str) -> None:
    body = body_for(product)
    accepted = api.submit(body, key)
    assert accepted.status_code == 202, accepted.text
    data = accepted.json()["data"]
    assert set(data) >= {"id", "status", "result_url", "created_at", "request", "progress"}
    assert data["request"] == body and accepted.headers["Location"] == data["result_url"]
    assert urlsplit(data["result_url"]).path == f"/v1/scene/create/async/{data['id']}"
    job = api.finished(data["id"], key)
    assert job["status"] == "DONE" and job["error"] is None and job["progress"] == {"stage": "done", "fraction": 1.0}
    sync = api.client.post("/v1/scene/create", json=body, headers=key)
    assert sync.status_code == 200
    expected, result = sync.json()["data"], job["result"]
    assert set(result) == set(expected) and result["input"] == expected["input"]
    strip = ("tmp_url", "object_key", "object_uri")
    assert [{k: v for k, v in out.items() if k not in strip} for out in result["output"]] == [
        {k: v for k, v in out.items() if k not in strip} for out in expected["output"]]
    difference = np.abs(pixels(api.client, result["output"][0]["tmp_url"])
                        - pixels(api.client, expected["output"][0]["tmp_url"]))
    assert difference.mean() < 0.5  # same request and seed, same picture


def test_outputs_in_a_destination_are_named_by_job_id(api: Api, key: dict[str, str], product: str) -> None:
    job_id = api.submit(body_for(product, number_of_images=2, destination="storage://local/async/"), key).json()[
        "data"]["id"]
    job = api.finished(job_id, key)
    names = [f"async/{job_id}_{index}.png" for index in range(2)]
    assert [output["object_key"] for output in job["result"]["output"]] == names
    account = api.services.keys.authenticate(key["Authorization"].removeprefix("Bearer ")).account_id  # type: ignore[attr-defined]
    assert files_under(local_namespace(api.services.settings, account)) == names  # type: ignore[attr-defined]


def test_a_failed_job_carries_the_sync_endpoints_error_body(api: Api, key: dict[str, str]) -> None:
    body = body_for(data_uri(b"this is not an image"))
    sync = api.client.post("/v1/scene/create", json=body, headers=key)
    assert sync.status_code == 400
    job = api.finished(api.submit(body, key).json()["data"]["id"], key)
    assert job["status"] == "ERROR" and job["result"] is None
    assert job["error"] == sync.json()


def test_an_invalid_body_is_refused_at_once(api: Api, key: dict[str, str], product: str) -> None:
    body = body_for(product)
    body["scene"]["surprise"] = True
    response = api.submit(body, key)
    assert response.status_code == 422 and response.json()["error_code"] == "9000"
    assert api.client.get("/v1/scene/create/async", headers=key).json()["meta"]["total"] == 0
    assert api.client.post("/v1/scene/create/async", json=body_for(product)).status_code == 401


def test_idempotency_keys_on_the_async_endpoint(api: Api, key: dict[str, str], product: str) -> None:
    headers = {**key, "Idempotency-Key": "order-42"}
    first = api.submit(body_for(product), headers)
    again = api.submit(body_for(product), headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    conflict = api.submit(body_for(product, number_of_images=2), headers)
    assert conflict.status_code == 409
    assert conflict.json()["error_code"] == "2009" and "Idempotency-Key" in conflict.json()["error_details"]
    other = api.submit(body_for(product), {**api.key(), "Idempotency-Key": "order-42"})
    assert other.json()["data"]["id"] != first.json()["data"]["id"]  # keys are per account


def test_idempotency_keys_on_the_sync_endpoint(api: Api, key: dict[str, str], product: str) -> None:
    headers = {**key, "Idempotency-Key": "sync-1"}
    first = api.client.post("/v1/scene/create", json=body_for(product), headers=headers)
    again = api.client.post("/v1/scene/create", json=body_for(product), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    conflict = api.client.post("/v1/scene/create", json=body_for(product, format="jpeg"), headers=headers)
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "2009"
    bad = {**key, "Idempotency-Key": "broken"}
    failed = api.client.post("/v1/scene/create", json=body_for(data_uri(b"nope")), headers=bad)
    retried = api.client.post("/v1/scene/create", json=body_for(data_uri(b"nope")), headers=bad)
    assert failed.status_code == retried.status_code == 400  # failures are not kept: a retry runs again


def test_jobs_are_private_listed_and_cancellable(api: Api, key: dict[str, str], product: str) -> None:
    job_ids = [api.submit(body_for(product), key).json()["data"]["id"] for _ in range(3)]
    stranger = api.key()
    assert api.client.get(f"/v1/scene/create/async/{job_ids[0]}", headers=stranger).status_code == 404
    assert api.client.post(f"/v1/scene/create/async/{job_ids[0]}/cancel", headers=stranger).status_code == 404
    assert api.client.get("/v1/scene/create/async", headers=stranger).json()["meta"]["total"] == 0
    cancelled = api.client.post(f"/v1/scene/create/async/{job_ids[2]}/cancel", headers=key).json()["data"]
    deleted = api.client.delete(f"/v1/scene/create/async/{job_ids[1]}", headers=key).json()["data"]
    for job_id in job_ids:
        api.finished(job_id, key)
    statuses = {job_id: api.job(job_id, key)["status"] for job_id in job_ids}
    assert statuses[job_ids[0]] == "DONE"
    # A cancel that came after the job ended leaves it as it ended.
    assert cancelled["status"] in ("CANCELLED", "DONE") and statuses[job_ids[2]] == cancelled["status"]
    assert deleted["status"] in ("CANCELLED", "DONE") and statuses[job_ids[1]] == deleted["status"]
    page = api.client.get("/v1/scene/create/async", params={"limit": 2}, headers=key).json()
    assert page["meta"] == {"total": 3, "limit": 2, "offset": 0}
    assert [job["id"] for job in page["data"]] == job_ids[::-1][:2]
    done = api.client.get("/v1/scene/create/async", params={"status": "DONE"}, headers=key).json()
    assert {job["id"] for job in done["data"]} == {j for j, s in statuses.items() if s == "DONE"}
    bad = api.client.get("/v1/scene/create/async", params={"status": "LOST"}, headers=key)
    assert bad.status_code == 422


def test_webhooks_per_key_and_per_request(api: Api, key: dict[str, str], product: str) -> None:
    with WebhookReceiver() as per_key, WebhookReceiver() as per_request:
        configured = api.client.put("/v1/webhooks", json={"url": per_key.url}, headers=key).json()["data"]
        secret = configured["secret"]
        assert secret and configured["url"] == per_key.url
        assert api.client.get("/v1/webhooks", headers=key).json()["data"] == {
            "url": per_key.url, "secret_configured": True, "secret": None}
        keyed = api.submit(body_for(product), key).json()["data"]["id"]
        headed = api.submit(body_for(product), {**key, "X-Webhook-Url": per_request.url}).json()["data"]["id"]
        queried = api.submit(body_for(product), key, webhook_url=per_request.url).json()["data"]["id"]
        wait_for(lambda: len(per_key.received) == 1 and len(per_request.received) == 2, 200)
        deliveries = api.client.get(f"/v1/scene/create/async/{keyed}/webhooks", headers=key).json()["data"]
    assert [job["id"] for job in per_key.jobs()] == [keyed]
    assert sorted(job["id"] for job in per_request.jobs()) == sorted([headed, queried])
    for received in per_key.received + per_request.received:
        assert verify(secret, received.body, received.headers[SIGNATURE_HEADER.lower()])
    assert per_key.jobs()[0] == api.job(keyed, key)
    assert deliveries[0]["status"] == "DELIVERED" and deliveries[0]["attempts"] == 1
    rotated = api.client.post("/v1/webhooks/secret", headers=key).json()["data"]["secret"]
    assert rotated and rotated != secret
    refused = api.client.put("/v1/webhooks", json={"url": "http://169.254.169.254/latest"}, headers=key)
    assert refused.status_code == 422 and "url" in refused.json()["error_details"]
    cleared = api.client.put("/v1/webhooks", json={"url": None}, headers=key).json()["data"]
    assert cleared["url"] is None


def test_a_full_queue_answers_503_with_retry_after(settings: Settings, product: str) -> None:
    def slow_jobs(services) -> JobService:  # type: ignore[no-untyped-def]
        options = dataclasses.replace(FAST, max_queue=1)
        return JobService(services.settings, options, services.sessions, services.keys, services.credits,
                          FakePipeline(delay_s=1.0))

    for api in open_api(settings, slow_jobs):
        key = api.key()
        assert api.submit(body_for(product), key).status_code == 202
        full = api.submit(body_for(product), key)
        assert full.status_code == 503 and full.json()["error_code"] == "2002"
        assert int(full.headers["Retry-After"]) >= 1


def test_the_openapi_document_describes_the_job_endpoints(api: Api) -> None:
    operations = {
        operation["operationId"]
        for path in api.client.get("/openapi.json").json()["paths"].values()
        for operation in path.values()
    }
    assert operations >= {"create_scene_job", "get_scene_job", "list_scene_jobs", "cancel_scene_job",
                          "delete_scene_job", "list_scene_job_webhooks", "get_webhook", "set_webhook",
                          "rotate_webhook_secret", "create_scene_api_v1_scene_create_post"}
