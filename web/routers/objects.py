"""Objects: the estate as the read model sees it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tiering.adapters.objectstore import TierBuckets
from tiering.domain.records import DEFAULT_TENANT
from tiering.domain.tiers import Tier
from tiering.services.access import require_tenant, tenant_scope
from tiering.services.errors import NotFound
from tiering.web.auth import Viewer
from tiering.web.deps import ReadModelsDep, SettingsDep
from tiering.web.paging import keyset_page

router = APIRouter(prefix="/objects", tags=["objects"])
TenantQ = Annotated[str, Query(description="Tenant of the key", min_length=1, max_length=64)]


@router.get("", summary="List objects, filtered, with cursor pagination")
def list_objects(who: Viewer, read_models: ReadModelsDep, tenant: str | None = None, tier: Tier | None = None,
                 prefix: Annotated[str | None, Query(description="Key prefix")] = None,
                 include_deleted: bool = False, cursor: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return keyset_page(read_models.list_objects, tenant=tenant_scope(who, tenant),
                       tier=tier.value if tier else None, prefix=prefix,
                       include_deleted=include_deleted, cursor=cursor, limit=limit)


# Registered before the plain route so that a key's "/history" suffix is not
# swallowed by the greedy path parameter.
@router.get("/{key:path}/history", summary="An object's event history (from its read model)")
def object_history(who: Viewer, key: str, read_models: ReadModelsDep,
                   tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    require_tenant(who, tenant)
    if read_models.get_object(tenant, key) is None:
        raise NotFound(f"unknown object {tenant}/{key}")
    return {"tenant": tenant, "key": key, "events": read_models.history(tenant, key)}


@router.get("/{key:path}", summary="One object's state")
def get_object(who: Viewer, key: str, read_models: ReadModelsDep, settings: SettingsDep,
               tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    require_tenant(who, tenant)
    row = read_models.get_object(tenant, key)
    if row is None:
        raise NotFound(f"unknown object {tenant}/{key}")
    # The bucket follows from the tier the log names; moves change the tier
    # only at their commit, so this is where reads should go.
    row["bucket"] = TierBuckets.from_settings(settings).of(row["tier"])
    return row
