"""Insights: the dashboard's aggregates beyond /metrics (moves per hour, top
objects, cost against always-hot and S3 Intelligent-Tiering, tenants)."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Query, Request

from tiering.projections.insights import MAX_HOURS, MAX_TOP, Insights
from tiering.web.deps import ServicesDep

router = APIRouter(prefix="/insights", tags=["insights"])
# Top objects sums the hour buckets of every object accessed within a week,
# which grows with the estate; every open dashboard asks for it on each
# refresh. So it is served from a cache: the first request computes it, later
# ones get the cached answer at once, and one that finds it older than the TTL
# starts a recomputation in the background (stale-while-revalidate).
TOP_OBJECTS_TTL_S = 15.0


class StaleWhileRevalidate:
    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, Any]] = {}
        self._running: set[tuple] = set()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._entries.get(key)
            stale = hit is not None and time.monotonic() - hit[0] >= self.ttl_s
            start = stale and key not in self._running
            if start:
                self._running.add(key)
        if hit is None:
            return self._store(key, compute())
        if start:
            threading.Thread(target=self._recompute, args=(key, compute), daemon=True,
                             name="insights-cache").start()
        return hit[1]

    def _store(self, key: tuple, value: Any) -> Any:
        with self._lock:
            if len(self._entries) > 256:  # one entry per (tenant, hours, limit) asked for
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)
        return value

    def _recompute(self, key: tuple, compute: Callable[[], Any]) -> None:
        try:
            self._store(key, compute())
        except Exception:  # noqa: BLE001 - the stale answer stays; the next request retries
            pass
        finally:
            with self._lock:
                self._running.discard(key)


def _insights(request: Request, services) -> Insights:
    found = getattr(request.app.state, "insights", None)
    if found is None:
        found = request.app.state.insights = Insights(services.read_models)
        request.app.state.insights_memo = StaleWhileRevalidate(TOP_OBJECTS_TTL_S)
    return found


@router.get("/tenants", summary="Tenants that hold or held objects")
def tenants(request: Request, services: ServicesDep) -> dict[str, Any]:
    return {"tenants": _insights(request, services).tenants()}


@router.get("/moves-per-hour", summary="Moves per hour of request, by outcome")
def moves_per_hour(request: Request, services: ServicesDep, tenant: str | None = None,
                   hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 48) -> dict[str, Any]:
    return _insights(request, services).moves_per_hour(hours=hours, tenant=tenant)


@router.get("/top-objects", summary="Most accessed live objects over the last event-time hours "
            "(cached; refreshed in the background)")
def top_objects(request: Request, services: ServicesDep, tenant: str | None = None,
                hours: Annotated[int, Query(ge=1, le=168)] = 24,
                limit: Annotated[int, Query(ge=1, le=MAX_TOP)] = 20) -> dict[str, Any]:
    insights = _insights(request, services)
    return request.app.state.insights_memo.get(
        (tenant, hours, limit), lambda: insights.top_objects(hours=hours, limit=limit, tenant=tenant))


@router.get("/overview", summary="Estate totals (as /metrics, optionally for one tenant) and the "
            "cost comparison, in one answer")
def overview(request: Request, services: ServicesDep, tenant: str | None = None) -> dict[str, Any]:
    metrics = services.read_models.metrics(tenant)
    return {"metrics": metrics,
            "cost": _insights(request, services).cost_comparison(tenant=tenant, metrics=metrics)}


@router.get("/cost-comparison",
            summary="Monthly cost against always-hot and the S3 Intelligent-Tiering estimate")
def cost_comparison(request: Request, services: ServicesDep,
                    tenant: str | None = None) -> dict[str, Any]:
    return _insights(request, services).cost_comparison(tenant=tenant)
