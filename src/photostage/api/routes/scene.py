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
from photostage.contract.errors import CLIENT_CLOSED, OVERLOADED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import Response_ScenePipelineResponseOut_
from photostage.pipeline.plan import scene_spec
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
    ticket = None
    if idempotency_key is not None:
        ticket = services.jobs.begin_sync(principal.account_id, idempotency_key, body)
    if ticket is not None and ticket.replay is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return Response_ScenePipelineResponseOut_.model_validate(ticket.replay)
    try:
        answer = _run(body, principal, services, request_id, ClientWatch(disconnected_check(request)))
    except BaseException:
        if ticket is not None and ticket.record_id is not None:
            services.jobs.idempotency.abandon_sync(ticket.record_id)
        raise
    if ticket is not None and ticket.record_id is not None:
        services.jobs.idempotency.complete_sync(ticket.record_id, answer.model_dump(mode="json"))
    return answer


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


def _run(
    body: SceneCreateAPIIn, principal: Principal, services: Services, request_id: str,
    stop: Callable[[], None] | None = None,
) -> Response_ScenePipelineResponseOut_:
    # The middleware sheds requests at the door by counting them; this counts renders. They differ
    # when a client hangs up: its request leaves the door's count, but its thread keeps rendering
    # until done and keeps its slot here.
    if not services.capacity.acquire(blocking=False):
        raise PhotostageError(OVERLOADED, headers={"Retry-After": "2"})
    # GPU work is its own capacity: a full device queue (or weights still loading) is refused
    # here, before credits are reserved or anything is fetched.
    try:
        spec, _ = scene_spec(body.scene, {})
        services.engines.check_capacity(spec.model, spec)
    except BaseException:
        services.capacity.release()
        raise
    images = body.output_options.number_of_images
    try:
        services.credits.reserve(principal.account_id, images)
        try:
            result = services.runner.run(body, account_id=principal.account_id, request_id=request_id, stop=stop)
        except BaseException as error:
            services.credits.refund(principal.account_id, images)
            if isinstance(error, ClientGone):  # nobody reads this answer; logs and metrics see a 499
                raise PhotostageError(CLIENT_CLOSED) from None
            raise
        services.metrics.observe_stages(result.profiling)
    finally:
        services.capacity.release()
    return Response_ScenePipelineResponseOut_(data=result)
