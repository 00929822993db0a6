"""`GET /v1/models`: which model names this server serves, with which engine, and whether available."""

from __future__ import annotations

from fastapi import APIRouter

from photostage.api.deps import PrincipalDep, ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.contract.response import ModelOut, ModelsOut

router = APIRouter(prefix="/v1", tags=["Models"])


@router.get("/models", operation_id="list_models", response_model=ModelsOut, responses=ERROR_RESPONSES)
def list_models(principal: PrincipalDep, services: ServicesDep) -> ModelsOut:
    """Each model name this server serves, its engine, whether it is available, and for engines
    with weights the device, number format, memory plan and load state (device honesty: a model
    that would run on the CPU says so with a warning)."""
    rows = []
    for model in services.engines.describe():
        status = model.status
        rows.append(ModelOut(
            name=model.name, engine=model.engine, available=model.available,
            device=_text(status.get("device")), dtype=_text(status.get("dtype")),
            weights=status.get("weights"),
            memory=_text(status.get("memory_plan")), warning=_text(status.get("warning")),
            reason=_text(status.get("reason")),
        ))
    return ModelsOut(data=rows)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
