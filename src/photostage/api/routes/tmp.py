"""`GET /v1/tmp/{name}`: temporary results behind signed, expiring URLs (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from photostage.api.deps import ServicesDep
from photostage.api.routes import ERROR_RESPONSES
from photostage.storage.tmp import media_type_for

router = APIRouter(prefix="/v1/tmp", tags=["Results"])


@router.get("/{name}", operation_id="get_tmp_result", responses=ERROR_RESPONSES, response_class=FileResponse)
def get_tmp_result(
    name: str, services: ServicesDep, expires: int = Query(...), signature: str = Query(...)
) -> FileResponse:
    found = services.tmp.open(name, expires, signature)
    headers = {"Cache-Control": "private, max-age=3600"}
    if isinstance(found, bytes):  # kept in the database or a bucket
        return Response(found, media_type=media_type_for(name), headers=headers)  # type: ignore[return-value]
    return FileResponse(found, media_type=media_type_for(found.name), headers=headers)
