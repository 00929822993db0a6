"""`POST /v1/scene/create`: the synchronous scene pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Header, Request, Response

from photostage.accounts import Principal
from photostage.api.deps import PrincipalDep, RequestIdDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.errors import CLIENT_CLOSED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import Response_ScenePipelineResponseOut_
from photostage.pipeline.service import Created
from photostage.scenes.base import RenderStopped
from photostage.services import Services

router = APIRouter(prefix="/v1/scene", tags=["Image"])


@router.post(
    "/create",
    operation_id="create_scene_api_v1_scene_create_post",
    response_model=Response_ScenePipelineResponseOut_,
    responses=ERROR_RESPONSES,
    summary="Create product scenes",
)
def create_scene(
    body: SceneCreateAPIIn,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    request_id: RequestIdDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Extension: same key and body within 24 h → the same "
               "response, another body → 409."),
    ] = None,
) -> Response_ScenePipelineResponseOut_:
    """Cut the product out, stage it on the scene and return up to four finished images.

    `position` has its origin at the top-left (x=0 left, y=0 top) and names the centre of the
    object box; `scale` is the fraction of the canvas the object box fills on its limiting side;
    `rotation_degree` is clockwise.
    """
    created = _run(body, principal, services, request_id, ClientWatch(disconnected_check(request)), idempotency_key)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created.response


def _run(
    body: SceneCreateAPIIn, principal: Principal, services: Services, request_id: str,
    stop: Callable[[], None] | None = None, idempotency_key: str | None = None,
) -> Created:
    """The synchronous create (:class:`~photostage.pipeline.service.SceneService`); a client that
    left is answered 499 (nobody reads it; its credits were refunded), for logs and metrics."""
    try:
        return services.scenes.create(
            body, account_id=principal.account_id, request_id=request_id, idempotency_key=idempotency_key, stop=stop
        )
    except ClientGone:
        raise PhotostageError(CLIENT_CLOSED) from None


class ClientGone(RenderStopped):
    """The client closed the connection: the render it waits for is abandoned."""


def disconnected_check(request: Request) -> Callable[[], bool]:
    """Whether the client has hung up, asked from the worker thread this route runs in (the
    question goes to the event loop, which holds the connection)."""

    def disconnected() -> bool:
        try:
            return bool(anyio.from_thread.run(request.is_disconnected))
        except RuntimeError:  # not in a worker thread of the server's event loop (called directly)
            return False

    return disconnected


@dataclass
class ClientWatch:
    """The stop check of a synchronous request: raises :class:`ClientGone` once the client has hung
    up, so a diffusion model stops painting between denoising steps for nobody. Asked at most every
    ``interval_s`` (asking costs a round trip to the event loop)."""

    disconnected: Callable[[], bool]
    interval_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    _asked_at: float | None = None

    def __call__(self) -> None:
        now = self.clock()
        if self._asked_at is not None and now - self._asked_at < self.interval_s:
            return
        self._asked_at = now
        if self.disconnected():
            raise ClientGone
