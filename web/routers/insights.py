"""Insights: the dashboard's aggregates beyond /metrics (moves per hour, top
objects, cost against always-hot and S3 Intelligent-Tiering, tenants)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tiering.projections.insights import MAX_HOURS, MAX_TOP
from tiering.services.access import tenant_scope
from tiering.web.auth import Viewer
from tiering.web.deps import InsightsDep

router = APIRouter(prefix="/insights", tags=["insights"])


@router.get("/tenants", summary="Tenants that hold or held objects")
def tenants(who: Viewer, insights: InsightsDep) -> dict[str, Any]:
    return {"tenants": [t for t in insights.tenants() if who.sees(t)]}


@router.get("/moves-per-hour", summary="Moves per hour of request, by outcome")
def moves_per_hour(who: Viewer, insights: InsightsDep, tenant: str | None = None,
                   hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 48) -> dict[str, Any]:
    return insights.moves_per_hour(hours, tenant_scope(who, tenant))


@router.get("/top-objects", summary="Most accessed live objects over the last event-time hours "
            "(cached; refreshed in the background)")
def top_objects(who: Viewer, insights: InsightsDep, tenant: str | None = None,
                hours: Annotated[int, Query(ge=1, le=168)] = 24,
                limit: Annotated[int, Query(ge=1, le=MAX_TOP)] = 20) -> dict[str, Any]:
    return insights.top_objects(hours, limit, tenant_scope(who, tenant))


@router.get("/overview", summary="Estate totals (as /metrics, optionally for one tenant) and the "
            "cost comparison, in one answer")
def overview(who: Viewer, insights: InsightsDep, tenant: str | None = None) -> dict[str, Any]:
    return insights.overview(tenant_scope(who, tenant))


@router.get("/cost-comparison",
            summary="Monthly cost against always-hot and the S3 Intelligent-Tiering estimate")
def cost_comparison(who: Viewer, insights: InsightsDep, tenant: str | None = None) -> dict[str, Any]:
    return insights.cost_comparison(tenant_scope(who, tenant))
