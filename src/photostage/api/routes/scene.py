"""`POST /v1/scene/create`: the synchronous scene pipeline."""

from __future__ import annotations

from fastapi import APIRouter

from photostage.api.deps import PrincipalDep, RequestIdDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.errors import OVERLOADED, PhotostageError
from photostage.contract.request import SceneCreateAPIIn
from photostage.contract.response import Response_ScenePipelineResponseOut_

router = APIRouter(prefix="/v1/scene", tags=["Image"])


@router.post(
    "/create",
    operation_id="create_scene_api_v1_scene_create_post",
    response_model=Response_ScenePipelineResponseOut_,
    responses=ERROR_RESPONSES,
    summary="Create product scenes",
)
def create_scene(
    body: SceneCreateAPIIn, principal: PrincipalDep, services: ServicesDep, request_id: RequestIdDep
) -> Response_ScenePipelineResponseOut_:
    """Cut the product out, stage it on the scene and return up to four finished images.

    `position` has its origin at the top-left (x=0 left, y=0 top) and names the centre of the
    object box; `scale` is the fraction of the canvas the object box fills on its limiting side;
    `rotation_degree` is clockwise.
    """
    if not services.capacity.acquire(blocking=False):
        raise PhotostageError(OVERLOADED, headers={"Retry-After": "2"})
    images = body.output_options.number_of_images
    try:
        services.credits.reserve(principal.account_id, images)
        try:
            result = services.runner.run(body, account_id=principal.account_id, request_id=request_id)
        except BaseException:
            services.credits.refund(principal.account_id, images)
            raise
    finally:
        services.capacity.release()
    return Response_ScenePipelineResponseOut_(data=result)
