"""Quotas: a tenant's limits and what it holds or used against them.

Limits are set in the policy file's ``quotas`` section (``PUT /policies``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tiering.domain.records import DEFAULT_TENANT
from tiering.services.access import tenant_scope
from tiering.web.auth import Viewer
from tiering.web.deps import ServicesDep

router = APIRouter(tags=["quotas"])


@router.get("/quotas", summary="A tenant's quotas: limit and use of each")
def quotas(who: Viewer, services: ServicesDep, tenant: str | None = None) -> dict[str, Any]:
    return services.quotas.status(tenant_scope(who, tenant) or DEFAULT_TENANT)
