"""Incident webhooks: subscribe a URL, list and revoke subscriptions, see
deliveries and redeliver one. The signing scheme is in ``domain.webhooks``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, Field

from tiering.domain.webhooks import INCIDENTS
from tiering.web.auth import Admin
from tiering.web.deps import ServicesDep

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class SubscriptionRequest(BaseModel):
    tenant: str = Field(min_length=1, max_length=64, description="Whose incidents; '*' for all (a key of all).")
    url: str = Field(min_length=8, max_length=2000, description="Where to POST each incident (http or https).")
    incidents: list[str] = Field(min_length=1, max_length=len(INCIDENTS),
                                 description="Any of: " + ", ".join(INCIDENTS))


@router.post("", status_code=status.HTTP_201_CREATED,
             summary="Subscribe a URL to incidents (the signing secret is in this answer only)")
def subscribe(who: Admin, services: ServicesDep, body: Annotated[SubscriptionRequest, Body()]) -> dict[str, Any]:
    return services.webhooks.subscribe(who, body.tenant, body.url, body.incidents)


@router.get("", summary="Subscriptions of the tenants this key sees (never their secrets)")
def subscriptions(who: Admin, services: ServicesDep) -> dict[str, Any]:
    return {"items": [s.describe() for s in services.webhooks.subscriptions(who)]}


@router.delete("/{subscription_id}", summary="Stop a subscription")
def unsubscribe(who: Admin, subscription_id: str, services: ServicesDep) -> dict[str, Any]:
    return services.webhooks.unsubscribe(who, subscription_id)


@router.get("/deliveries", summary="Deliveries with every attempt and how each ended")
def deliveries(who: Admin, services: ServicesDep, subscription_id: str | None = None) -> dict[str, Any]:
    return {"items": services.webhooks.deliveries(who, subscription_id)}


@router.post("/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             summary="Deliver again, with a fresh signature")
def redeliver(who: Admin, delivery_id: str, services: ServicesDep) -> dict[str, Any]:
    return services.webhooks.redeliver(who, delivery_id)
