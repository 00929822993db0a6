"""The wire shapes of async jobs (an extension of Claid's API; its sync shapes are reused).

A DONE job's ``result`` is exactly the ``data`` the sync ``POST /v1/scene/create`` answers
with, and an ERROR job's ``error`` is exactly the sync endpoint's error body, so a client reads
both paths with the same code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from photostage.contract.errors import HttpErrorDetails
from photostage.contract.response import ScenePipelineResponseOut

JobStatus = Literal["ACCEPTED", "PROCESSING", "DONE", "ERROR", "CANCELLED"]


class JobProgress(BaseModel):
    stage: str | None = Field(None, description="fetch, cutout, render, store, done; null before start.")
    fraction: float = Field(0.0, ge=0, le=1)


class JobOut(BaseModel):
    id: str
    status: JobStatus
    result_url: str = Field(description="Where to poll this job (GET).")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = Field(0, description="How many times a worker started this job.")
    progress: JobProgress = Field(default_factory=JobProgress)
    request: dict[str, Any] = Field(description="The request body as it was accepted.")
    result: ScenePipelineResponseOut | None = Field(None, description="When DONE: the sync endpoint's data.")
    error: HttpErrorDetails | None = Field(None, description="When ERROR: the sync endpoint's error body.")


class Response_JobOut_(BaseModel):  # noqa: N801 - named like the contract's envelopes
    data: JobOut


class PageMeta(BaseModel):
    total: int
    limit: int
    offset: int


class Response_JobList_(BaseModel):  # noqa: N801
    data: list[JobOut]
    meta: PageMeta


class WebhookDeliveryOut(BaseModel):
    id: int
    job_id: str
    event: str
    url: str
    status: Literal["PENDING", "DELIVERED", "FAILED"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Response_WebhookDeliveries_(BaseModel):  # noqa: N801
    data: list[WebhookDeliveryOut]


class WebhookConfigIn(BaseModel):
    url: str | None = Field(
        None, max_length=4096, description="https URL to POST finished jobs to; null clears."
    )


class WebhookConfigOut(BaseModel):
    url: str | None
    secret_configured: bool
    secret: str | None = Field(
        None, description="The signing secret, present only in the answer that created it (shown once)."
    )


class Response_WebhookConfig_(BaseModel):  # noqa: N801
    data: WebhookConfigOut
