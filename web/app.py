"""The FastAPI application: thin routes over read models and the ingest port."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from starlette.middleware.trustedhost import TrustedHostMiddleware

from tiering.web import content_types, errors
from tiering.web.deps import Services
from tiering.web.metrics import ApiMetrics
from tiering.web.routers import (
    accesses,
    autopilot,
    health,
    insights,
    keys,
    metrics,
    ml,
    move_list,
    moves,
    objects,
    quotas,
    webhooks,
)


def create_app(services: Services) -> FastAPI:
    # FastAPIOffline: FastAPI with /docs and /redoc served from the installed
    # package's assets instead of a CDN, so the documentation works offline.
    app = FastAPIOffline(title="tiering", version="0.1.0", static_url="/docs-assets",
                         description="Event-sourced storage tiering: ingest accesses, read the estate.")
    services.metrics = services.metrics or ApiMetrics()
    app.state.services = services

    @app.middleware("http")
    async def time_requests(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        services.metrics.requests.labels(request.method, getattr(route, "path", "unmatched"),
                                         str(response.status_code)).observe(
            time.perf_counter() - started)
        return response

    errors.install(app)
    content_types.install(app)
    # A Host allow-list: a page that DNS-rebinds its own name to this address
    # is refused, whatever it sends.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=services.settings.resolved_allowed_hosts)

    # moves before objects: its /objects/{key}/content and /move routes
    # would otherwise be swallowed by objects' greedy GET /objects/{key:path}.
    for module in (health, accesses, moves, objects, move_list, metrics, ml, insights, autopilot, keys, quotas,
                   webhooks):
        app.include_router(module.router)
    return app
