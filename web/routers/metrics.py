"""Metrics: estate totals from aggregate tables, history, and Prometheus."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tiering.services.access import tenant_scope
from tiering.web.auth import EstateAdmin, EstateViewer, Viewer
from tiering.web.deps import ReadModelsDep, ServicesDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Estate totals; cost independent of the object count")
def get_metrics(who: Viewer, read_models: ReadModelsDep) -> dict[str, Any]:
    """The estate's totals; a key of one tenant gets that tenant's."""
    return read_models.metrics(tenant_scope(who, None))


@router.get("/metrics/history", summary="Metric snapshots taken on a schedule")
def metrics_history(_: EstateViewer, read_models: ReadModelsDep, since: float | None = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> dict[str, Any]:
    return {"snapshots": read_models.metrics_history(limit=limit, since=since)}


@router.get("/metrics/prometheus", summary="Operational counters in Prometheus text format")
def prometheus(_: EstateAdmin, services: ServicesDep, read_models: ReadModelsDep) -> Response:
    services.metrics.refresh(read_models)
    for gauge, read in ((services.metrics.projection_lag, services.lag),
                        (services.metrics.quarantined, services.quarantined)):
        if read is not None:
            try:
                gauge.set(read())
            except Exception:  # a scrape must not fail because one gauge cannot be read
                pass
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
