"""The FastAPI application factory: `create_app(settings)`; thin over the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from photostage import __version__
from photostage.api.access import AccessCheck
from photostage.api.errors import install_error_handlers
from photostage.api.middleware import RequestContextMiddleware
from photostage.api.observe import ObserveMiddleware
from photostage.api.ratelimit import build_rate_limiter
from photostage.api.routes import cutout, docs, health, jobs, models, scene, storage, tmp, web
from photostage.config import Settings
from photostage.services import Services, build_services, sync_capacity

log = logging.getLogger("photostage.api")


async def _sweep_tmp(services: Services) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(services.tmp.sweep)
            if removed:
                log.info("removed %d expired temporary results", removed)
        except Exception:  # noqa: BLE001 - the sweeper must outlive a bad pass
            log.exception("temporary result sweep failed")
        await asyncio.sleep(services.settings.tmp.sweep_interval_s)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())
    owned = services is None
    services = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_tmp(services))
        await asyncio.to_thread(services.jobs.start)
        if settings.engines.diffusion_preload:
            services.engines.start_loading()  # weights load in the background; requests meanwhile get 503
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.to_thread(services.jobs.stop)
            if owned:
                services.close()

    app = FastAPI(
        title="photostage",
        version=__version__,
        description="Self-hostable, Claid-compatible product scene service.",
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs from local files (no CDN)
        redoc_url=None,
    )
    app.state.services = services
    app.state.rate_limiter = build_rate_limiter(settings)
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        max_json_depth=settings.server.max_json_depth,
        gated_paths=frozenset({"/v1/scene/create"}),
        max_in_flight=sync_capacity(settings),
        access=AccessCheck(authenticate=services.keys.authenticate),
    )
    routers = (
        health.router, scene.router, cutout.router, tmp.router, models.router, storage.router, jobs.router,
        jobs.webhooks_router,
    )
    app.add_middleware(  # outermost: counts and logs every answer, the middleware's refusals too
        ObserveMiddleware, metrics=services.metrics, access=settings.log.access,
        routes=[route for router in routers for route in router.routes],
    )
    for router in routers:
        app.include_router(router)
    app.include_router(web.router)
    app.include_router(docs.router)
    return app
