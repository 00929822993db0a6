"""`Annotated` dependencies: the services, the calling principal (auth → rate limit, see ``access``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from photostage.accounts import Principal
from photostage.api.access import PRINCIPAL_STATE, admit
from photostage.services import Services

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ps_…`")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # documents the scheme
) -> Principal:
    """The caller the middleware admitted (auth and rate limit happen there, before the body is
    read); checked here only on a route the middleware does not guard."""
    state = request.scope.setdefault("state", {})
    admitted = state.get(PRINCIPAL_STATE)
    if isinstance(admitted, Principal):
        return admitted
    authorization = request.headers.get("authorization")
    return admit(services.keys.authenticate, request.app.state.rate_limiter, authorization, state)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def request_id(request: Request) -> str:
    return request.scope["state"]["request_id"]


RequestIdDep = Annotated[str, Depends(request_id)]
