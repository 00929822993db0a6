"""`Annotated` dependencies: the services, the calling principal (auth → rate limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from photostage.accounts import Principal
from photostage.contract.errors import AUTH_INVALID, AUTH_REQUIRED, RATE_LIMITED, PhotostageError
from photostage.services import Services

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ps_…`")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise PhotostageError(AUTH_REQUIRED)
    principal = services.keys.authenticate(credentials.credentials)
    if principal is None:
        raise PhotostageError(AUTH_INVALID)
    limiter = request.app.state.rate_limiter
    if limiter is not None:
        decision = limiter.check(str(principal.key_id))
        request.scope["state"]["rate_limit_headers"] = decision.headers()
        if not decision.allowed:
            raise PhotostageError(RATE_LIMITED, headers=decision.headers())
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def request_id(request: Request) -> str:
    return request.scope["state"]["request_id"]


RequestIdDep = Annotated[str, Depends(request_id)]
