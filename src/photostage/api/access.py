"""Who may come in: the API key, then the per-key rate limit, checked from the headers alone.

The middleware asks :class:`AccessCheck` before it reads a byte of the body, so a request
without a valid key is answered 401 whatever its body is (malformed, too deep, too large): the
fixed order of DESIGN.md is auth → validate → ... The principal found is kept in the request's
state for the route's ``PrincipalDep``, so a key is looked up once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio.to_thread
from starlette.types import Scope

from photostage.accounts import Principal
from photostage.contract.errors import AUTH_INVALID, AUTH_REQUIRED, RATE_LIMITED, PhotostageError

if TYPE_CHECKING:
    from photostage.api.ratelimit import Decision


PRINCIPAL_STATE = "principal"
RATE_LIMIT_STATE = "rate_limit_headers"


class Limiter(Protocol):
    def check(self, key: str) -> Decision:
        ...


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


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


def admit(
    authenticate: Callable[[str], Principal | None],
    limiter: Limiter | None,
    authorization: str | None,
    state: dict[str, object],
) -> Principal:
    """Authenticate, then count the request against the key's rate limit; raise the 401 or 429.
    ``state`` receives the principal and the rate-limit headers of the answer."""
    token = bearer_token(authorization)
    if token is None:
        raise PhotostageError(AUTH_REQUIRED, message=missing_key_message(authorization))
    principal = authenticate(token)
    if principal is None:
        raise PhotostageError(AUTH_INVALID)
    if limiter is not None:
        decision = limiter.check(str(principal.key_id))
        state[RATE_LIMIT_STATE] = decision.headers()
        if not decision.allowed:
            raise PhotostageError(RATE_LIMITED, headers=decision.headers())
    state[PRINCIPAL_STATE] = principal
    return principal


@dataclass(frozen=True)
class AccessCheck:
    """The middleware's gate: which paths need a key, and the check itself (run on a worker
    thread: the key lookup and a Redis-backed limiter block). The limiter is read from
    ``app.state.rate_limiter`` at each request, so it can be replaced after the app is built."""

    authenticate: Callable[[str], Principal | None]
    protected_prefixes: tuple[str, ...] = ("/v1/",)
    public_prefixes: tuple[str, ...] = ("/v1/tmp/",)

    def protects(self, path: str) -> bool:
        return path.startswith(self.protected_prefixes) and not path.startswith(self.public_prefixes)

    async def admit(self, scope: Scope, authorization: str | None) -> PhotostageError | None:
        app = scope.get("app")
        limiter = getattr(getattr(app, "state", None), "rate_limiter", None)
        state = scope.setdefault("state", {})
        try:
            await anyio.to_thread.run_sync(admit, self.authenticate, limiter, authorization, state)
        except PhotostageError as error:
            return error
        return None
