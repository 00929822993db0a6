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


def missing_key_message(header: str | None) -> str:
    """What to send, given what (if anything) came in the Authorization header."""
    if not header or not header.strip():
        return f"{AUTH_REQUIRED.message} Send the header `Authorization: Bearer <your API key>`."
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return f"{AUTH_REQUIRED.message} The key after `Bearer ` is empty."
    if rest and scheme.isalpha() and len(scheme) <= 12:  # "Basic …", "Token …": safe to name
        return (f"{AUTH_REQUIRED.message} The scheme must be Bearer, not {scheme}: "
                "send `Authorization: Bearer <your API key>`.")
    # the value alone is probably the key itself: never echo it
    return (f"{AUTH_REQUIRED.message} The `Bearer ` prefix is missing: "
            "send `Authorization: Bearer <your API key>`, not the key alone.")


def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise PhotostageError(AUTH_REQUIRED, message=missing_key_message(request.headers.get("authorization")))
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
