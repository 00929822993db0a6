"""`GET /v1/models`: which model names this server serves, with which engine, and whether available."""

from __future__ import annotations

from fastapi import APIRouter

from photostage.api.deps import PrincipalDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.response import ModelOut, ModelsOut

router = APIRouter(prefix="/v1", tags=["Models"])


@router.get("/models", operation_id="list_models", response_model=ModelsOut, responses=ERROR_RESPONSES)
def list_models(principal: PrincipalDep, services: ServicesDep) -> ModelsOut:
    return ModelsOut(
        data=[ModelOut(name=m.name, engine=m.engine, available=m.available) for m in services.engines.describe()]
    )
