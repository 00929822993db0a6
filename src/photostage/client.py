"""The Python SDK of photostage: a sync :class:`Client` and an :class:`AsyncClient` over httpx.

Both speak every endpoint of the server (scene create, models, temporary results, storages,
async jobs, webhooks) and return the contract's own pydantic models, so a caller reads
``client.create_scene(body).data.output[0].tmp_url`` with types all the way down. Failures are
typed exceptions built from Claid's error body; 429 and 503 may be retried, honouring
``Retry-After``. Each endpoint is described once as an :class:`ApiCall`; the two clients differ
only in how they send it, so they cannot drift apart.

Security: the API key is sent only to the server's own API paths, never to an absolute URL
(a ``tmp_url`` may name another host, and needs no key).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from photostage.contract.errors import HttpErrorDetails
from photostage.contract.jobs import (
    JobOut,
    Response_JobList_,
    Response_JobOut_,
    Response_WebhookConfig_,
    Response_WebhookDeliveries_,
)
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import (
    ModelOut,
    ModelsOut,
    PipelineOutputObject,
    Response_ScenePipelineResponseOut_,
)
from photostage.contract.storage import (
    Response_List_StorageOut_Pydantic_,
    Response_List_StorageType_,
    Response_StorageOutDetailed_Pydantic_,
    StorageIn_Pydantic,
    StorageInUpdate_Pydantic,
)

__all__ = [
    "ApiCall",
    "AsyncClient",
    "AuthError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ModelOut",
    "ModelsOut",
    "NotFoundError",
    "PaymentRequiredError",
    "PhotostageAPIError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ValidationError",
]

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRIES = 2
TERMINAL_JOB_STATUSES = frozenset({"DONE", "ERROR", "CANCELLED"})
RETRYABLE_STATUSES = frozenset({429, 503})
JOBS_PATH = "/v1/scene/create/async"
USER_AGENT = "photostage-python"
JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

ModelT = TypeVar("ModelT", bound=BaseModel)


# ------------------------------------------------------------------------------------ errors
class PhotostageAPIError(Exception):
    """A non-2xx answer, read from Claid's error body; ``request_id`` is what support asks for."""

    def __init__(
        self,
        status: int,
        code: str,
        error_type: str,
        message: str,
        details: dict[str, list[str]],
        request_id: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.type = error_type
        self.message = message
        self.details = details
        self.request_id = request_id
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        text = f"HTTP {self.status} [{self.code or '-'} {self.type}] {self.message}"
        if self.details:
            fields = "; ".join(f"{name}: {', '.join(messages)}" for name, messages in self.details.items())
            text += f" ({fields})"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text


class BadRequestError(PhotostageAPIError):
    """400: the input itself is refused (an image that cannot be fetched or decoded, ...)."""


class AuthError(PhotostageAPIError):
    """401 (missing or invalid key) or 403 (the key may not do that)."""


class NotFoundError(PhotostageAPIError):
    """404."""


class PaymentRequiredError(PhotostageAPIError):
    """402: the account has not enough image credits left for this request."""


class ConflictError(PhotostageAPIError):
    """409, e.g. an Idempotency-Key reused with another body, or a storage name taken."""


class ValidationError(PhotostageAPIError):
    """422: ``details`` maps each refused field (``scene.prompt``) to its messages."""


class RateLimitError(PhotostageAPIError):
    """429; ``retry_after`` is the server's advice in seconds (None when it gave none)."""

    def __init__(
        self,
        status: int,
        code: str,
        error_type: str,
        message: str,
        details: dict[str, list[str]],
        request_id: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, code, error_type, message, details, request_id, headers)
        self.retry_after = retry_after_seconds(self.headers)


class ServerError(PhotostageAPIError):
    """5xx: the server failed or is at capacity (503, with Retry-After)."""


ERROR_CLASS_BY_STATUS: dict[int, type[PhotostageAPIError]] = {
    400: BadRequestError,
    401: AuthError,
    402: PaymentRequiredError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[PhotostageAPIError]:
    if status >= 500:
        return ServerError
    return ERROR_CLASS_BY_STATUS.get(status, PhotostageAPIError)


def error_from_body(
    status: int, body: HttpErrorDetails, request_id: str | None, headers: Mapping[str, str] | None = None
) -> PhotostageAPIError:
    error_class = error_class_for(status)
    message, details = body.error_message, dict(body.error_details)
    return error_class(status, body.error_code, body.error_type, message, details, request_id, headers)


def error_from_response(response: httpx.Response) -> PhotostageAPIError:
    """The typed error of a failed response; a body that is not Claid's (a proxy's HTML page)
    still gives an error with the status and the start of the text."""
    request_id = response.headers.get("x-request-id")
    headers = dict(response.headers)
    try:
        body = HttpErrorDetails.model_validate(response.json())
    except ValueError:
        message = response.text[:200].strip() or response.reason_phrase or "request failed"
        return error_class_for(response.status_code)(
            response.status_code, "", "general", message, {}, request_id, headers
        )
    return error_from_body(response.status_code, body, request_id, headers)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), else ``RateLimit-Reset``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("retry-after", "ratelimit-reset"):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return max(0.0, moment.timestamp() - time.time())
    return None


# ------------------------------------------------------------------------------------ retries
@dataclass(frozen=True)
class RetryPolicy:
    """Retry 429 and 503 answers (refused before any work was done, so safe for POST too).

    The wait is the server's ``Retry-After`` when given, else ``backoff_s`` doubled per attempt,
    never more than ``max_wait_s``. ``max_retries=0`` never retries; ``None`` retries until
    ``budget_s`` seconds were spent waiting. ``statuses`` are the answers retried;
    ``transport_errors`` retries a failed connection too (idempotent calls, or calls carrying an
    Idempotency-Key, as ``photostage batch`` does).
    """

    max_retries: int | None = DEFAULT_RETRIES
    backoff_s: float = 0.5
    max_wait_s: float = 30.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    transport_errors: bool = False
    budget_s: float | None = None

    def delay(self, response: httpx.Response | None, attempt: int, waited_s: float = 0.0) -> float | None:
        """Seconds to wait before retrying, or None when this answer is final. ``response`` is None
        after a transport error; ``waited_s`` is what earlier retries of this call waited."""
        if response is None and not self.transport_errors:
            return None
        if response is not None and response.status_code not in self.statuses:
            return None
        if self.max_retries is not None and attempt >= self.max_retries:
            return None
        advised = retry_after_seconds(response.headers) if response is not None else None
        wait = min(advised if advised is not None else self.backoff_s * 2 ** min(attempt, 32), self.max_wait_s)
        if self.budget_s is not None and waited_s + wait > self.budget_s:
            return None
        return wait


# ------------------------------------------------------------------------------------ models
class EmptyOut(BaseModel):
    data: Any = None


class HealthOut(BaseModel):
    status: str


# ------------------------------------------------------------------------------------ calls
@dataclass(frozen=True)
class ApiCall(Generic[ModelT]):
    """One request to the API and the model its answer is read into."""

    method: str
    path: str
    model: type[ModelT]
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _json_body(value: BaseModel | Mapping[str, Any]) -> Any:
    """A model is sent as its JSON without unset optionals; a mapping is sent as given, so the
    server (not an older SDK) is the judge of fields it knows."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return dict(value)


def _optional_headers(pairs: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in pairs.items() if value is not None}


def create_scene_call(
    request: SceneCreateAPIIn | Mapping[str, Any], idempotency_key: str | None
) -> ApiCall[Response_ScenePipelineResponseOut_]:
    return ApiCall("POST", "/v1/scene/create", Response_ScenePipelineResponseOut_, body=_json_body(request),
                   headers=_optional_headers({"Idempotency-Key": idempotency_key}))


def create_job_call(
    request: SceneCreateAPIIn | Mapping[str, Any], webhook_url: str | None, idempotency_key: str | None
) -> ApiCall[Response_JobOut_]:
    params = {"webhook_url": webhook_url} if webhook_url is not None else {}
    return ApiCall("POST", JOBS_PATH, Response_JobOut_, body=_json_body(request), params=params,
                   headers=_optional_headers({"Idempotency-Key": idempotency_key}))


def list_jobs_call(
    status: str | list[str] | None, limit: int | None, offset: int | None, updated_since: datetime | None
) -> ApiCall[Response_JobList_]:
    """``status`` is one status or several (the server ORs them); None leaves a bound to the server."""
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if offset is not None:
        params["offset"] = offset
    if status:
        params["status"] = [status] if isinstance(status, str) else list(status)
    if updated_since is not None:
        params["updated_since"] = updated_since.isoformat()
    return ApiCall("GET", JOBS_PATH, Response_JobList_, params=params)


def storage_call(
    method: str, storage_id: int, body: StorageInUpdate_Pydantic | Mapping[str, Any] | None = None
) -> ApiCall[Response_StorageOutDetailed_Pydantic_]:
    """GET or PATCH one storage (the answer carries its public credentials)."""
    payload = _json_body(body) if body is not None else None
    return ApiCall(method, storage_path(storage_id), Response_StorageOutDetailed_Pydantic_, body=payload)


def storage_path(storage_id: int) -> str:
    return f"/v1/storage/storages/{int(storage_id)}"


def job_path(job_id: str) -> str:
    """The job's path; an id that could escape it (``../``, ``?``) is refused before sending."""
    if not JOB_ID.fullmatch(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return f"{JOBS_PATH}/{job_id}"


def output_url(output: str | PipelineOutputObject) -> str:
    """The URL a result can be downloaded from: its tmp_url (or, with a web folder destination,
    its object_uri when that is an http(s) URL)."""
    if isinstance(output, str):
        return output
    for candidate in (output.tmp_url, output.object_uri):
        if candidate.startswith(("http://", "https://", "/")):
            return candidate
    raise ValueError("this output has no downloadable URL (it was written to a storage destination)")


def _read(response: httpx.Response, model: type[ModelT]) -> ModelT:
    if response.is_success:
        return model.model_validate(response.json())
    raise error_from_response(response)


def _job_failure(job: JobOut) -> PhotostageAPIError:
    """The typed error of a job that ended in ERROR (its error is the sync endpoint's body)."""
    from photostage.contract import errors as catalogue

    body = job.error or HttpErrorDetails(error_code="", error_type="general", error_message="the job failed")
    kinds = [kind for kind in vars(catalogue).values() if isinstance(kind, catalogue.ErrorKind)]
    status = next((kind.status for kind in kinds if kind.code == body.error_code), 500)
    return error_from_body(status, body, request_id=None)


def _finished(job: JobOut, raise_on_error: bool) -> JobOut:
    if raise_on_error and job.status == "ERROR":
        raise _job_failure(job)
    return job


def _base_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


# ------------------------------------------------------------------------------------ sync
def _retry_policy(retries: int) -> RetryPolicy:
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    return RetryPolicy(max_retries=retries)


def _poll_delay(poll_s: float, deadline: float, job: JobOut, timeout_s: float) -> float:
    """How long to sleep before the next poll; TimeoutError when the next poll would be late."""
    if time.monotonic() + poll_s > deadline:
        raise TimeoutError(f"job {job.id} is still {job.status} after {timeout_s} s")
    return poll_s


class Client:
    """The sync SDK. Use as a context manager, or call :meth:`close`.

    ``transport`` swaps the network for another httpx transport (tests, proxies); ``retries`` is
    how many times a 429 or 503 answer is retried (after its ``Retry-After``, capped at 30 s);
    ``retry`` replaces that policy whole. ``http`` sends through a client of the caller's (which
    it keeps and closes), ``sleep`` is how retries wait.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or _retry_policy(retries)
        self._api_headers = _base_headers(api_key)
        self._owns_http = http is None
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._sleep = sleep

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def call(self, api_call: ApiCall[ModelT]) -> ModelT:
        """Send one described request (retrying 429/503 per the policy) and read its answer."""
        attempt, waited = 0, 0.0
        while True:
            try:
                response = self._http.request(
                    api_call.method, api_call.path, json=api_call.body, params=api_call.params or None,
                    headers={**self._api_headers, **api_call.headers},
                )
            except httpx.TransportError:
                wait = self.retry.delay(None, attempt, waited)
                if wait is None:
                    raise
            else:
                wait = self.retry.delay(response, attempt, waited)
                if wait is None:
                    return _read(response, api_call.model)
            attempt, waited = attempt + 1, waited + wait
            self._sleep(wait)

    # -- scenes
    def create_scene(
        self, request: SceneCreateAPIIn | Mapping[str, Any], idempotency_key: str | None = None
    ) -> Response_ScenePipelineResponseOut_:
        """``POST /v1/scene/create``: render and return up to four images (synchronously)."""
        return self.call(create_scene_call(request, idempotency_key))

    def list_models(self) -> ModelsOut:
        return self.call(ApiCall("GET", "/v1/models", ModelsOut))

    def health(self) -> HealthOut:
        return self.call(ApiCall("GET", "/healthz", HealthOut))

    def download(self, output: str | PipelineOutputObject) -> bytes:
        """The bytes of a result (its signed ``tmp_url`` needs no key, and none is sent)."""
        response = self._http.get(output_url(output), headers={"User-Agent": USER_AGENT})
        if not response.is_success:
            raise error_from_response(response)
        return response.content

    def download_to(self, output: str | PipelineOutputObject, path: Path) -> Path:
        path = Path(path)
        path.write_bytes(self.download(output))
        return path

    # -- async jobs
    def create_scene_async(
        self,
        request: SceneCreateAPIIn | Mapping[str, Any],
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Response_JobOut_:
        """``POST /v1/scene/create/async``: accepted at once (202); poll with :meth:`wait_for_job`."""
        return self.call(create_job_call(request, webhook_url, idempotency_key))

    def get_job(self, job_id: str) -> Response_JobOut_:
        return self.call(ApiCall("GET", job_path(job_id), Response_JobOut_))

    def list_jobs(
        self,
        status: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        updated_since: datetime | None = None,
    ) -> Response_JobList_:
        return self.call(list_jobs_call(status, limit, offset, updated_since))

    def cancel_job(self, job_id: str) -> Response_JobOut_:
        return self.call(ApiCall("POST", f"{job_path(job_id)}/cancel", Response_JobOut_))

    def job_webhooks(self, job_id: str) -> Response_WebhookDeliveries_:
        return self.call(ApiCall("GET", f"{job_path(job_id)}/webhooks", Response_WebhookDeliveries_))

    def wait_for_job(
        self, job_id: str, poll_s: float = 1.0, timeout_s: float = 600.0, raise_on_error: bool = True
    ) -> JobOut:
        """Poll until the job is DONE, ERROR or CANCELLED; an ERROR raises its typed error
        (unless ``raise_on_error`` is false). TimeoutError when it is still running at the end."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get_job(job_id).data
            if job.status in TERMINAL_JOB_STATUSES:
                return _finished(job, raise_on_error)
            time.sleep(_poll_delay(poll_s, deadline, job, timeout_s))

    # -- webhooks
    def get_webhook(self) -> Response_WebhookConfig_:
        return self.call(ApiCall("GET", "/v1/webhooks", Response_WebhookConfig_))

    def set_webhook(self, url: str | None) -> Response_WebhookConfig_:
        """Set (None clears) this key's webhook; the first one answers with the signing secret."""
        return self.call(ApiCall("PUT", "/v1/webhooks", Response_WebhookConfig_, body={"url": url}))

    def rotate_webhook_secret(self) -> Response_WebhookConfig_:
        return self.call(ApiCall("POST", "/v1/webhooks/secret", Response_WebhookConfig_))

    # -- storages
    def storage_types(self) -> Response_List_StorageType_:
        return self.call(ApiCall("GET", "/v1/storage/storage-types", Response_List_StorageType_))

    def list_storages(self) -> Response_List_StorageOut_Pydantic_:
        return self.call(ApiCall("GET", "/v1/storage/storages", Response_List_StorageOut_Pydantic_))

    def create_storage(
        self, storage: StorageIn_Pydantic | Mapping[str, Any]
    ) -> Response_StorageOutDetailed_Pydantic_:
        return self.call(ApiCall("POST", "/v1/storage/storages", Response_StorageOutDetailed_Pydantic_,
                                 body=_json_body(storage)))

    def get_storage(self, storage_id: int) -> Response_StorageOutDetailed_Pydantic_:
        return self.call(storage_call("GET", storage_id))

    def update_storage(
        self, storage_id: int, update: StorageInUpdate_Pydantic | Mapping[str, Any]
    ) -> Response_StorageOutDetailed_Pydantic_:
        return self.call(storage_call("PATCH", storage_id, update))

    def delete_storage(self, storage_id: int) -> None:
        self.call(ApiCall("DELETE", storage_path(storage_id), EmptyOut))


# ------------------------------------------------------------------------------------ async
class AsyncClient:
    """The asyncio SDK: the same methods as :class:`Client`, awaited (``async with`` closes it)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = _retry_policy(retries)
        self._api_headers = _base_headers(api_key)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, api_call: ApiCall[ModelT]) -> ModelT:
        attempt, waited = 0, 0.0
        while True:
            try:
                response = await self._http.request(
                    api_call.method, api_call.path, json=api_call.body, params=api_call.params or None,
                    headers={**self._api_headers, **api_call.headers},
                )
            except httpx.TransportError:
                wait = self.retry.delay(None, attempt, waited)
                if wait is None:
                    raise
            else:
                wait = self.retry.delay(response, attempt, waited)
                if wait is None:
                    return _read(response, api_call.model)
            attempt, waited = attempt + 1, waited + wait
            await asyncio.sleep(wait)

    # -- scenes
    async def create_scene(
        self, request: SceneCreateAPIIn | Mapping[str, Any], idempotency_key: str | None = None
    ) -> Response_ScenePipelineResponseOut_:
        return await self.call(create_scene_call(request, idempotency_key))

    async def list_models(self) -> ModelsOut:
        return await self.call(ApiCall("GET", "/v1/models", ModelsOut))

    async def health(self) -> HealthOut:
        return await self.call(ApiCall("GET", "/healthz", HealthOut))

    async def download(self, output: str | PipelineOutputObject) -> bytes:
        response = await self._http.get(output_url(output), headers={"User-Agent": USER_AGENT})
        if not response.is_success:
            raise error_from_response(response)
        return response.content

    async def download_to(self, output: str | PipelineOutputObject, path: Path) -> Path:
        path = Path(path)
        path.write_bytes(await self.download(output))
        return path

    # -- async jobs
    async def create_scene_async(
        self,
        request: SceneCreateAPIIn | Mapping[str, Any],
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Response_JobOut_:
        return await self.call(create_job_call(request, webhook_url, idempotency_key))

    async def get_job(self, job_id: str) -> Response_JobOut_:
        return await self.call(ApiCall("GET", job_path(job_id), Response_JobOut_))

    async def list_jobs(
        self,
        status: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        updated_since: datetime | None = None,
    ) -> Response_JobList_:
        return await self.call(list_jobs_call(status, limit, offset, updated_since))

    async def cancel_job(self, job_id: str) -> Response_JobOut_:
        return await self.call(ApiCall("POST", f"{job_path(job_id)}/cancel", Response_JobOut_))

    async def job_webhooks(self, job_id: str) -> Response_WebhookDeliveries_:
        return await self.call(ApiCall("GET", f"{job_path(job_id)}/webhooks", Response_WebhookDeliveries_))

    async def wait_for_job(
        self, job_id: str, poll_s: float = 1.0, timeout_s: float = 600.0, raise_on_error: bool = True
    ) -> JobOut:
        deadline = time.monotonic() + timeout_s
        while True:
            job = (await self.get_job(job_id)).data
            if job.status in TERMINAL_JOB_STATUSES:
                return _finished(job, raise_on_error)
            await asyncio.sleep(_poll_delay(poll_s, deadline, job, timeout_s))

    # -- webhooks
    async def get_webhook(self) -> Response_WebhookConfig_:
        return await self.call(ApiCall("GET", "/v1/webhooks", Response_WebhookConfig_))

    async def set_webhook(self, url: str | None) -> Response_WebhookConfig_:
        return await self.call(ApiCall("PUT", "/v1/webhooks", Response_WebhookConfig_, body={"url": url}))

    async def rotate_webhook_secret(self) -> Response_WebhookConfig_:
        return await self.call(ApiCall("POST", "/v1/webhooks/secret", Response_WebhookConfig_))

    # -- storages
    async def storage_types(self) -> Response_List_StorageType_:
        return await self.call(ApiCall("GET", "/v1/storage/storage-types", Response_List_StorageType_))

    async def list_storages(self) -> Response_List_StorageOut_Pydantic_:
        return await self.call(ApiCall("GET", "/v1/storage/storages", Response_List_StorageOut_Pydantic_))

    async def create_storage(
        self, storage: StorageIn_Pydantic | Mapping[str, Any]
    ) -> Response_StorageOutDetailed_Pydantic_:
        return await self.call(ApiCall("POST", "/v1/storage/storages", Response_StorageOutDetailed_Pydantic_,
                                       body=_json_body(storage)))

    async def get_storage(self, storage_id: int) -> Response_StorageOutDetailed_Pydantic_:
        return await self.call(storage_call("GET", storage_id))

    async def update_storage(
        self, storage_id: int, update: StorageInUpdate_Pydantic | Mapping[str, Any]
    ) -> Response_StorageOutDetailed_Pydantic_:
        return await self.call(storage_call("PATCH", storage_id, update))

    async def delete_storage(self, storage_id: int) -> None:
        await self.call(ApiCall("DELETE", storage_path(storage_id), EmptyOut))
