"""One handler renders every error in Claid's body with its status and the request id."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from photostage.contract.errors import (
    INTERNAL,
    NOT_FOUND,
    VALIDATION,
    ErrorKind,
    PhotostageError,
    details_from_validation,
)

log = logging.getLogger("photostage.api")

METHOD_NOT_ALLOWED = ErrorKind("2005", "general", 405, "Method not allowed.")


def render(error: PhotostageError, request: Request) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.metrics.observe_error(error.kind.code, error.kind.type, error.status)
    headers = dict(error.headers)
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        headers["x-request-id"] = request_id
    return JSONResponse(error.body().model_dump(), status_code=error.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PhotostageError)
    async def _photostage(request: Request, error: PhotostageError) -> JSONResponse:
        return render(error, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return render(PhotostageError(VALIDATION, details=details_from_validation(list(error.errors()))), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            return render(PhotostageError(NOT_FOUND), request)
        if error.status_code == 405:
            return render(PhotostageError(METHOD_NOT_ALLOWED), request)
        if error.status_code == 400:  # FastAPI could not read the body at all (not UTF-8, say)
            details = {"body": [f"{error.detail}: the body must be a UTF-8 JSON object."]}
            return render(PhotostageError(VALIDATION, details=details), request)
        kind = ErrorKind(str(error.status_code), "general", error.status_code, str(error.detail))
        return render(PhotostageError(kind), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled error in request %s: %s", request_id, type(error).__name__)
        return render(PhotostageError(INTERNAL), request)
