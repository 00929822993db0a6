"""The outermost middleware: counts and times every HTTP request by route template (never by raw
path: ids in paths would make a series per job) and writes the access log line (with the request
id, in JSON when configured)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from photostage.observability.metrics import Metrics

access_log = logging.getLogger("photostage.access")
UNMATCHED = "unmatched"


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that answered (``/v1/scene/create/async/{job_id}``); for a request
    refused before routing (401, 503 at the door) the route of ``routes`` it was meant for; else
    ``unmatched``."""
    route = scope.get("route")
    if route is None:
        route = next((candidate for candidate in routes if candidate.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class ObserveMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, access: bool = True, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, self.routes)
            self.metrics.observe_request(route, scope["method"], status, seconds)
            if self.access:
                access_log.info(
                    "%s %s %d %.1f ms", scope["method"], scope["path"], status, seconds * 1000,
                    extra={"route": route, "method": scope["method"], "status": status,
                           "duration_ms": round(seconds * 1000, 1),
                           "request_id": scope.get("state", {}).get("request_id")},
                )
