"""Async scene jobs and webhook settings (photostage extensions; Claid has no async scenes).

A job belongs to the account of the API key that made it: another account's job is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from photostage.api.deps import PrincipalDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.errors import ErrorBody
from photostage.contract.jobs import (
    Response_JobList_,
    Response_JobOut_,
    Response_WebhookConfig_,
    Response_WebhookDeliveries_,
    WebhookConfigIn,
)
from photostage.contract.request import SceneCreateAPIIn

JOB_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    **{code: {"model": ErrorBody, "description": f"HTTP {code}"} for code in (404, 409, 503)},
}

router = APIRouter(prefix="/v1/scene/create/async", tags=["Jobs"])
webhooks_router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"])

JobId = Annotated[str, Path(min_length=1, max_length=64, description="The job id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Same key and body within 24 h → the same job; another body → 409.",
    ),
]


@router.post(
    "",
    operation_id="create_scene_job",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Response_JobOut_,
    responses=JOB_ERRORS,
    summary="Create product scenes asynchronously",
)
def create_scene_job(
    body: SceneCreateAPIIn,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    webhook_header: Annotated[str | None, Header(alias="X-Webhook-Url")] = None,
    webhook_url: Annotated[
        str | None,
        Query(max_length=4096, description="POST the finished job here (overrides the key's URL)."),
    ] = None,
) -> Response_JobOut_:
    """Accept the same body as `POST /v1/scene/create` and answer at once with a job to poll at
    `result_url`. When the job ends, its JSON is POSTed to the webhook URL (the `webhook_url`
    query parameter, the `X-Webhook-Url` header, or the key's URL), signed with
    `X-Photostage-Signature: t=<unix time>,v1=<HMAC-SHA256 of "<t>." + body>` (README, Verifying
    webhooks); a per-request URL needs the account's signing secret to exist already (POST
    /v1/webhooks/secret), else 422. 503 with `Retry-After` when the queue is full."""
    submission = services.jobs.submit(
        principal, body, webhook_url=webhook_url or webhook_header, idempotency_key=idempotency_key
    )
    response.headers["Location"] = submission.job.result_url
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Response_JobOut_(data=submission.job)


@router.get(
    "",
    operation_id="list_scene_jobs",
    response_model=Response_JobList_,
    responses=JOB_ERRORS,
    summary="List jobs",
)
def list_scene_jobs(
    principal: PrincipalDep,
    services: ServicesDep,
    status_filter: Annotated[
        list[str] | None, Query(alias="status", description="Only these statuses (repeatable).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    updated_since: Annotated[
        datetime | None, Query(description="Only jobs changed at or after this time, oldest change first.")
    ] = None,
) -> Response_JobList_:
    """The account's jobs, newest first (or, with `updated_since`, in the order they changed)."""
    page = services.jobs.page(principal.account_id, status_filter or [], limit, offset, updated_since)
    return Response_JobList_(data=page.jobs, meta=page.meta)


@router.get(
    "/{job_id}",
    operation_id="get_scene_job",
    response_model=Response_JobOut_,
    responses=JOB_ERRORS,
    summary="Get a job",
)
def get_scene_job(job_id: JobId, principal: PrincipalDep, services: ServicesDep) -> Response_JobOut_:
    """The job with its progress; `result` (the sync endpoint's `data`) when DONE, `error` (the
    sync endpoint's error body) when ERROR."""
    return Response_JobOut_(data=services.jobs.get(principal.account_id, job_id))


@router.post(
    "/{job_id}/cancel",
    operation_id="cancel_scene_job",
    response_model=Response_JobOut_,
    responses=JOB_ERRORS,
    summary="Cancel a job",
)
def cancel_scene_job(job_id: JobId, principal: PrincipalDep, services: ServicesDep) -> Response_JobOut_:
    """Cancel an ACCEPTED or PROCESSING job (credits of unmade images are returned); a job that
    already ended is returned unchanged."""
    return Response_JobOut_(data=services.jobs.cancel(principal.account_id, job_id))


@router.delete(
    "/{job_id}",
    operation_id="delete_scene_job",
    response_model=Response_JobOut_,
    responses=JOB_ERRORS,
    summary="Cancel a job",
)
def delete_scene_job(job_id: JobId, principal: PrincipalDep, services: ServicesDep) -> Response_JobOut_:
    """The same as `POST /{job_id}/cancel`."""
    return cancel_scene_job(job_id, principal, services)


@router.get(
    "/{job_id}/webhooks",
    operation_id="list_scene_job_webhooks",
    response_model=Response_WebhookDeliveries_,
    responses=JOB_ERRORS,
    summary="Webhook delivery log",
)
def list_scene_job_webhooks(
    job_id: JobId, principal: PrincipalDep, services: ServicesDep
) -> Response_WebhookDeliveries_:
    """Every webhook delivery of the job: status, attempts, last HTTP status or error."""
    return Response_WebhookDeliveries_(data=services.jobs.deliveries(principal.account_id, job_id))


@webhooks_router.get(
    "",
    operation_id="get_webhook",
    response_model=Response_WebhookConfig_,
    responses=JOB_ERRORS,
    summary="This key's webhook",
)
def get_webhook(principal: PrincipalDep, services: ServicesDep) -> Response_WebhookConfig_:
    return Response_WebhookConfig_(data=services.jobs.webhook_config(principal))


@webhooks_router.put(
    "",
    operation_id="set_webhook",
    response_model=Response_WebhookConfig_,
    responses=JOB_ERRORS,
    summary="Set this key's webhook",
)
def set_webhook(
    body: WebhookConfigIn, principal: PrincipalDep, services: ServicesDep
) -> Response_WebhookConfig_:
    """Set (or, with `null`, clear) the URL this key's finished jobs are POSTed to. The first
    time an account gets a webhook, the answer carries its signing `secret` (shown once)."""
    return Response_WebhookConfig_(data=services.jobs.set_webhook(principal, body.url))


@webhooks_router.post(
    "/secret",
    operation_id="rotate_webhook_secret",
    response_model=Response_WebhookConfig_,
    responses=JOB_ERRORS,
    summary="New webhook signing secret",
)
def rotate_webhook_secret(principal: PrincipalDep, services: ServicesDep) -> Response_WebhookConfig_:
    """Replace the account's signing secret; the new one is in this answer only."""
    return Response_WebhookConfig_(data=services.jobs.rotate_secret(principal.account_id))
