"""ASGI middleware: request ids, load shedding, authentication, body caps, JSON depth caps,
rate-limit headers, in that order.

Pure ASGI (not BaseHTTPMiddleware) so bodies are checked as they stream and responses are not
buffered.

1. Load shedding happens at the door: once as many synchronous scene requests are in flight as
   the renderers can take, the next one is answered 503 (with ``Retry-After``) before it is
   authenticated, parsed, validated or handed to a thread. Refusals then cost almost nothing,
   so an overloaded server keeps rendering at its full rate instead of spending its CPU on
   turning requests away.
2. Authentication (and the per-key rate limit) from the headers alone: a request to an API path
   without a valid key is answered 401 whatever its body (malformed, too deep, too large), and
   its body is never buffered or parsed (DESIGN.md: auth → validate → ...).
3. Then the body: its size cap (413-style ``PAYLOAD_TOO_LARGE``) and JSON depth cap.

A request refused before its body was read has the body drained (read and dropped, up to the
size cap) so the client reads the answer instead of a reset connection; past the cap the answer
is sent at once with ``Connection: close``.
"""

from __future__ import annotations

import json
import re
import uuid

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photostage.api.access import RATE_LIMIT_STATE, AccessCheck
from photostage.contract.errors import OVERLOADED, PAYLOAD_TOO_LARGE, VALIDATION, PhotostageError
from photostage.observability.logs import REQUEST_ID

_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def json_depth(body: bytes, limit: int) -> int:
    """Nesting depth of a JSON text, computed without parsing it (strings skipped); exact when
    it exceeds ``limit``, a cheap lower bound otherwise."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    stripped = np.frombuffer(_STRING.sub(b'""', body), np.uint8)
    steps = (
        (stripped == ord("[")).astype(np.int32) + (stripped == ord("{"))
        - (stripped == ord("]")) - (stripped == ord("}"))
    )
    return int(np.cumsum(steps).max()) if steps.size else 0


async def _send_error(send: Send, error: PhotostageError, request_id: str, close: bool = False) -> None:
    body = json.dumps(error.body().model_dump()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-request-id", request_id.encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_json_depth: int,
        gated_paths: frozenset[str] = frozenset(),
        max_in_flight: int = 0,
        access: AccessCheck | None = None,
    ) -> None:
        """``gated_paths``: POST routes shed at the door once ``max_in_flight`` of them are being
        served (0: no gate). ``access``: the key check of protected paths (None: left to routes)."""
        self.app = app
        self.access = access
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.gated_paths = gated_paths
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # touched only on the event loop: no lock needed

    def _too_large(self) -> PhotostageError:
        limit = self.max_body_bytes
        return PhotostageError(
            PAYLOAD_TOO_LARGE,
            message=f"The request body is larger than this server's limit of {limit} bytes ({limit / 2**20:.1f} MiB, "
            "PHOTOSTAGE_SERVER__MAX_BODY_BYTES). Send a large image by URL or storage:// rather than inline "
            "as a data: URI.",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        offered = headers.get("x-request-id", "")
        request_id = offered if _CLIENT_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)  # every log line of this request carries it (its own task's context)

        declared = headers.get("content-length")
        declared_too_large = declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes)
        gated = self.max_in_flight > 0 and scope["method"] == "POST" and scope["path"] in self.gated_paths
        if gated and self.in_flight >= self.max_in_flight:
            error = PhotostageError(OVERLOADED, headers={"Retry-After": "2"})
            await self._refuse(receive, send, error, request_id, declared_too_large)
            return
        if self.access is not None and self.access.protects(scope["path"]):
            refusal = await self.access.admit(scope, headers.get("authorization"))
            if refusal is not None:
                await self._refuse(receive, send, refusal, request_id, declared_too_large)
                return

        if declared_too_large:
            await _send_error(send, self._too_large(), request_id)
            return

        body_check = scope["method"] in ("POST", "PUT", "PATCH")
        if body_check:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    await _send_error(send, self._too_large(), request_id)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            is_json = "json" in headers.get("content-type", "").lower()
            if is_json and json_depth(body, self.max_json_depth) > self.max_json_depth:
                error = PhotostageError(
                    VALIDATION, details={"body": [f"JSON nested deeper than {self.max_json_depth} levels"]}
                )
                await _send_error(send, error, request_id)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            receive_next: Receive = replay
        else:
            receive_next = receive

        # Again now that the body is in: places may have been taken while it arrived.
        if gated and self.in_flight >= self.max_in_flight:
            await _send_error(send, PhotostageError(OVERLOADED, headers={"Retry-After": "2"}), request_id)
            return

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", request_id.encode())]
                for name, value in scope["state"].get(RATE_LIMIT_STATE, {}).items():
                    extra.append((name.lower().encode(), value.encode()))
                existing = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    item for item in extra if item[0] not in existing
                ]
            await send(message)

        if not gated:
            await self.app(scope, receive_next, send_with_context)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive_next, send_with_context)
        finally:
            self.in_flight -= 1

    async def _refuse(
        self, receive: Receive, send: Send, error: PhotostageError, request_id: str, too_large: bool
    ) -> None:
        """Answer ``error`` to a request whose body has not been read: drop the body first (never
        buffered) so the client is listening; a body past the cap is not waited for."""
        size = 0
        more = not too_large
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False) and size <= self.max_body_bytes
        await _send_error(send, error, request_id, close=too_large or size > self.max_body_bytes)
