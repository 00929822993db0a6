"""Liveness (`/healthz`: the process answers), readiness (`/readyz`: it can do its work — the
database, the broker and the storage answer) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from photostage.api.deps import ServicesDep
from photostage.contract.errors import NOT_FOUND, PhotostageError
from photostage.observability.metrics import CONTENT_TYPE

router = APIRouter(tags=["Health"])


@router.get("/healthz", operation_id="healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and answering. Says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", responses={503: {"description": "Not ready: see `checks`."}})
def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 when the database, the job broker (runner=celery) and the storage answer;
    503 naming what does not (a load balancer should stop sending requests here)."""
    report = services.readiness.check()
    body = {"status": "ready" if report.ready else "not ready", "checks": report.checks}
    return JSONResponse(body, status_code=200 if report.ready else 503, headers={"Cache-Control": "no-store"})


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    if not services.settings.server.metrics:
        raise PhotostageError(NOT_FOUND, message="Metrics are turned off here (PHOTOSTAGE_SERVER__METRICS=false).")
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
