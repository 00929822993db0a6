"""The storage management API (Claid's `/v1/storage/...`), thin over StorageService."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from photostage.api.deps import PrincipalDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.storage import (
    Response_List_StorageOut_Pydantic_,
    Response_List_StorageType_,
    Response_StorageOutDetailed_Pydantic_,
    StorageIn_Pydantic,
    StorageInUpdate_Pydantic,
)

router = APIRouter(prefix="/v1/storage", tags=["Storage"])
WITH_404 = {**ERROR_RESPONSES, 404: ERROR_RESPONSES[422] | {"description": "HTTP 404"}}


Extensions = Annotated[
    bool,
    Query(description="photostage extension: also return `extensions` (region, endpoint_url, allow_write), "
          "which Claid's response schema does not know."),
]


class Response(BaseModel):
    data: Any = None


@router.get("/storage-types", operation_id="list_storage_types_v1_storage_storage_types_get",
            response_model=Response_List_StorageType_, responses=ERROR_RESPONSES)
def list_storage_types(principal: PrincipalDep, services: ServicesDep) -> Response_List_StorageType_:
    return Response_List_StorageType_(data=services.storages.storage_types())


@router.get("/storages", operation_id="list_storages_v1_storage_storages_get",
            response_model=Response_List_StorageOut_Pydantic_, response_model_exclude_none=True,
            responses=ERROR_RESPONSES)
def list_storages(
    principal: PrincipalDep, services: ServicesDep, extensions: Extensions = False
) -> Response_List_StorageOut_Pydantic_:
    return Response_List_StorageOut_Pydantic_(data=services.storages.list(principal.account_id, extensions))


@router.post("/storages", operation_id="create_storage_v1_storage_storages_post",
             response_model=Response_StorageOutDetailed_Pydantic_, response_model_exclude_none=True,
             responses=ERROR_RESPONSES)
def create_storage(
    body: StorageIn_Pydantic, principal: PrincipalDep, services: ServicesDep, extensions: Extensions = False
) -> Response_StorageOutDetailed_Pydantic_:
    return Response_StorageOutDetailed_Pydantic_(
        data=services.storages.create(principal.account_id, body, extensions)
    )


@router.get("/storages/{storage_id}", operation_id="get_storage_v1_storage_storages__storage_id__get",
            response_model=Response_StorageOutDetailed_Pydantic_, response_model_exclude_none=True,
            responses=WITH_404)
def get_storage(
    storage_id: int, principal: PrincipalDep, services: ServicesDep, extensions: Extensions = False
) -> Response_StorageOutDetailed_Pydantic_:
    return Response_StorageOutDetailed_Pydantic_(
        data=services.storages.get(principal.account_id, storage_id, extensions)
    )


@router.patch("/storages/{storage_id}", operation_id="update_storage_v1_storage_storages__storage_id__patch",
              response_model=Response_StorageOutDetailed_Pydantic_, response_model_exclude_none=True,
              responses=WITH_404)
def update_storage(
    storage_id: int, body: StorageInUpdate_Pydantic, principal: PrincipalDep, services: ServicesDep,
    extensions: Extensions = False,
) -> Response_StorageOutDetailed_Pydantic_:
    return Response_StorageOutDetailed_Pydantic_(
        data=services.storages.update(principal.account_id, storage_id, body, extensions)
    )


@router.delete("/storages/{storage_id}", operation_id="delete_storage_v1_storage_storages__storage_id__delete",
               response_model=Response, responses=WITH_404)
def delete_storage(storage_id: int, principal: PrincipalDep, services: ServicesDep) -> Response:
    services.storages.delete(principal.account_id, storage_id)
    return Response(data={})
