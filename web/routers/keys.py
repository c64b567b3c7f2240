"""API keys and the log of what operators and admins did.

A key is shown once, in the answer that issues it; only its digest is kept.
An admin manages the keys of the tenants it sees, up to its own role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, Field

from tiering.domain.governance import Principal, Role
from tiering.web.auth import Admin, Viewer
from tiering.web.deps import ServicesDep

router = APIRouter(tags=["access"])


class KeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
                      description="Whose key: shown in the log beside everything done with it.")
    tenant: str = Field(min_length=1, max_length=64, description="The tenant it may act for; '*' for all.")
    role: Role = Field(description="viewer, operator or admin.")
    expires_in_s: float | None = Field(None, gt=0, le=10 * 365 * 86_400,
                                       description="Seconds until it stops working; unset: never.")


@router.post("/keys", status_code=status.HTTP_201_CREATED,
             summary="Issue a key (its secret is in this answer only)")
def issue_key(who: Admin, services: ServicesDep, body: Annotated[KeyRequest, Body()]) -> dict[str, Any]:
    return services.access.issue(who, body.tenant, body.role, body.name, body.expires_in_s)


@router.get("/keys", summary="Keys of the tenants this key sees (never their secrets)")
def list_keys(who: Admin, services: ServicesDep) -> dict[str, Any]:
    return {"items": services.access.list_keys(who)}


@router.delete("/keys/{key_id}", summary="Revoke a key: it stops working at once")
def revoke_key(key_id: str, who: Admin, services: ServicesDep) -> dict[str, Any]:
    return services.access.revoke(who, key_id)


@router.get("/whoami", summary="The calling key: identity, tenant, role")
def whoami(who: Viewer) -> dict[str, Any]:
    return _describe(who)


@router.get("/actions", summary="What operators and admins did, oldest first")
def actions(who: Admin, services: ServicesDep, tenant: str | None = None) -> dict[str, Any]:
    return {"items": services.access.actions(who, tenant)}


def _describe(who: Principal) -> dict[str, Any]:
    return {"key_id": who.key_id, "name": who.name, "identity": who.identity, "tenant": who.tenant,
            "role": who.role.value}
