"""The Python SDK against a real server: uvicorn on a loopback port, the sync and async clients.

httpx's ASGI transport is async-only, so the sync client needs a real socket; one server per
module keeps the whole file fast.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image

from photostage.client import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    NotFoundError,
    PhotostageAPIError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from photostage.config import Settings

from ..conftest import data_uri, loopback_listener, make_product, png_bytes, uvicorn_thread  # noqa: TID252

WEB_FOLDER = {"type": "web_folder", "parameters": {"base_url": "https://example.com/images/"}}


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    product_uri: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from photostage.api.app import create_app

    listener = loopback_listener()  # held from here on: no race for the port with a suite beside
    settings = Settings(data_dir=tmp_path_factory.mktemp("sdk"), rate_limit={"enabled": False},
                        server={"port": listener.getsockname()[1]}, limits={"workers": 2})
    app = create_app(settings)
    api_key = app.state.services.keys.create("t")[0]
    with uvicorn_thread(app, listener) as url:
        yield Server(url, api_key, data_uri(png_bytes(make_product(160, 240))))


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.base_url, server.api_key, timeout=60) as sdk:
        yield sdk


def effect_body(product_uri: str, fmt: str = "jpeg", scale: float = 0.5) -> dict[str, object]:
    return {"object": {"image_url": product_uri, "scale": scale},
            "scene": {"effect": "shadows", "seed": 1},
            "output": {"number_of_images": 1, "format": fmt}}


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def test_create_scene_and_download_its_result(client: Client, server: Server) -> None:
    answer = client.create_scene(effect_body(server.product_uri))
    [output] = answer.data.output
    assert output.format == "JPEG" and output.tmp_url.startswith(server.base_url)
    assert image_size(client.download(output.tmp_url)) == (output.width, output.height)
    assert client.download(output) == client.download(output.tmp_url)


def test_async_job_runs_to_done(client: Client, server: Server) -> None:
    job = client.create_scene_async(effect_body(server.product_uri, fmt="png")).data
    assert job.status in ("ACCEPTED", "PROCESSING", "DONE")
    done = client.wait_for_job(job.id, poll_s=0.1, timeout_s=60)
    assert done.status == "DONE" and done.result is not None
    [output] = done.result.output
    assert image_size(client.download(output)) == (output.width, output.height)
    assert job.id in [listed.id for listed in client.list_jobs(status="DONE", limit=50).data]
    assert client.cancel_job(job.id).data.status == "DONE"
    assert client.job_webhooks(job.id).data == []


def test_models_and_storage_types(client: Client) -> None:
    models = {model.name: model for model in client.list_models().data}
    assert {"v1", "v2"} <= set(models) and models["v1"].available
    assert {"web_folder", "s3", "gcs"} <= set(client.storage_types().data)
    assert client.health().status == "ok"


def test_storage_crud(client: Client) -> None:
    name = f"web-{uuid.uuid4().hex[:8]}"
    created = client.create_storage({"name": name, **WEB_FOLDER}).data
    assert created.type == "web_folder" and created.parameters.base_url == "https://example.com/images/"
    assert name in [storage.name for storage in client.list_storages().data]
    assert client.get_storage(created.id).data.name == name
    renamed = client.update_storage(created.id, {"name": f"{name}-2"}).data
    assert renamed.name == f"{name}-2"
    client.delete_storage(created.id)
    with pytest.raises(NotFoundError) as missing:
        client.get_storage(created.id)
    assert missing.value.status == 404 and missing.value.request_id


def test_webhook_settings(client: Client) -> None:
    configured = client.set_webhook("https://example.com/hook").data
    assert configured.url == "https://example.com/hook" and configured.secret_configured
    assert client.get_webhook().data.url == "https://example.com/hook"
    assert client.set_webhook(None).data.url is None


def test_a_bad_key_is_an_auth_error(server: Server) -> None:
    with Client(server.base_url, "ps_not-a-key") as sdk, pytest.raises(AuthError) as refused:
        sdk.list_models()
    assert refused.value.status == 401 and refused.value.code in ("111", "112")


def test_an_invalid_body_is_a_validation_error_with_field_details(client: Client, server: Server) -> None:
    with pytest.raises(ValidationError) as refused:
        client.create_scene(effect_body(server.product_uri, scale=0))
    assert refused.value.status == 422 and "object.scale" in refused.value.details
    assert "object.scale" in str(refused.value)


def test_unknown_ids_are_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.get_job("nope")
    with pytest.raises(NotFoundError):
        client.get_storage(999999)
    with pytest.raises(ValueError, match="not a job id"):
        client.get_job("../storage")


def test_an_idempotency_key_reused_with_another_body_is_a_conflict(client: Client, server: Server) -> None:
    key = uuid.uuid4().hex
    first = client.create_scene_async(effect_body(server.product_uri), idempotency_key=key).data
    assert client.create_scene_async(effect_body(server.product_uri), idempotency_key=key).data.id == first.id
    with pytest.raises(ConflictError) as conflict:
        client.create_scene_async(effect_body(server.product_uri, fmt="png"), idempotency_key=key)
    assert conflict.value.status == 409 and isinstance(conflict.value, PhotostageAPIError)
    client.wait_for_job(first.id, poll_s=0.1, timeout_s=60)


def test_the_async_client_speaks_the_same_api(server: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.base_url, server.api_key, timeout=60) as sdk:
            answer = await sdk.create_scene(effect_body(server.product_uri))
            [output] = answer.data.output
            assert image_size(await sdk.download(output)) == (output.width, output.height)
            job = (await sdk.create_scene_async(effect_body(server.product_uri))).data
            assert (await sdk.wait_for_job(job.id, poll_s=0.1, timeout_s=60)).status == "DONE"
            assert any(model.name == "v1" for model in (await sdk.list_models()).data)
            name = f"web-{uuid.uuid4().hex[:8]}"
            created = (await sdk.create_storage({"name": name, **WEB_FOLDER})).data
            assert (await sdk.get_storage(created.id)).data.name == name
            await sdk.delete_storage(created.id)
            with pytest.raises(NotFoundError):
                await sdk.get_job("nope")
            with pytest.raises(ValidationError):
                await sdk.create_scene(effect_body(server.product_uri, scale=0))

    asyncio.run(scenario())


def scripted_transport(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.MockTransport(answer)


def error_answer(status: int, code: str, headers: dict[str, str]) -> httpx.Response:
    body = {"error_code": code, "error_type": "general", "error_message": "busy", "error_details": {}}
    return httpx.Response(status, json=body, headers=headers)


def test_429_and_503_are_retried_after_their_retry_after() -> None:
    seen: list[httpx.Request] = []
    answers = [error_answer(429, "2001", {"Retry-After": "0"}),
               error_answer(503, "2002", {"Retry-After": "0"}),
               httpx.Response(200, json={"data": []})]
    with Client("http://sdk.test", "k", transport=scripted_transport(answers, seen)) as sdk:
        assert sdk.list_storages().data == []
    assert len(seen) == 3 and all(r.headers["Authorization"] == "Bearer k" for r in seen)


def test_retries_end_with_the_typed_error() -> None:
    seen: list[httpx.Request] = []
    answers = [error_answer(429, "2001", {"Retry-After": "0"}) for _ in range(2)]
    limited_transport = scripted_transport(answers, seen)
    with Client("http://sdk.test", "k", retries=1, transport=limited_transport) as sdk, \
            pytest.raises(RateLimitError) as limited:
        sdk.list_models()
    assert len(seen) == 2 and limited.value.retry_after == 0.0
    busy_transport = scripted_transport([error_answer(503, "2002", {})], [])
    with Client("http://sdk.test", "k", retries=0, transport=busy_transport) as sdk, \
            pytest.raises(ServerError):
        sdk.list_models()


def test_retry_after_is_capped() -> None:
    response = error_answer(429, "2001", {"Retry-After": "3600"})
    assert RetryPolicy(max_retries=2).delay(response, 0) == 30.0
    assert RetryPolicy(max_retries=2).delay(response, 2) is None
