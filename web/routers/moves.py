"""Moves and bytes: operator moves, object content, materialising ingest, imports.

Answers come from the owning shard's live state, not from the read model, so
a move just requested is seen at once (409) and content is found mid-move.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tiering.actors.decisions import DecisionRefused, operator_decision
from tiering.domain.records import DEFAULT_TENANT
from tiering.web.deps import ServicesDep, WriterDep
from tiering.web.errors import public_message
from tiering.web.routers import accesses
from tiering.web.routers.objects import TenantQ

router = APIRouter(tags=["moves"])


def movement(request: Request):
    runtime = getattr(request.app.state, "movement", None)
    if runtime is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the movement runtime is not running (object store and movers)")
    return runtime


class MoveRequest(BaseModel):
    target: str = Field(description="Tier to move to: hot, warm or cold.")
    reason: str | None = Field(None, max_length=500, description="Why; kept in the object's history.")


@router.post("/objects/{key:path}/move", status_code=status.HTTP_202_ACCEPTED,
             summary="Move an object to another tier (the movers do it)",
             responses={404: {"description": "Unknown or deleted object"},
                        409: {"description": "A move is in flight, or the object is in that tier"},
                        422: {"description": "Bad target tier"}})
async def request_move(key: str, request: Request, body: Annotated[MoveRequest, Body()],
                       _: WriterDep, tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    runtime = movement(request)
    state = await runtime.live(tenant, key)
    # Decided at the object's newest event time; the owning shard stamps the
    # request at its tenant's now, which is never earlier.
    now = state["log_time"] if state else 0.0
    try:
        decision = operator_decision(state, tenant, key, body.target, body.reason, now)
    except DecisionRefused as e:
        detail = [{"field": e.field, "reason": e.reason}] if e.status == 422 else e.reason
        raise HTTPException(e.status, detail) from None
    # Recorded before it is published: a 202 means the log has the move, and a
    # second request sees it (409). Should publishing fail, the reconciler
    # finds the requested move in the log and drives it.
    recorded = await runtime.record_request(decision)
    if recorded["outcome"] == "unknown":
        raise HTTPException(404, f"unknown object {tenant}/{key}")
    if recorded["outcome"] != "requested":
        raise HTTPException(409, recorded["reason"] or recorded["outcome"])
    try:
        await runtime.publish(decision)
    except Exception as e:  # noqa: BLE001 - the reconciler will drive it
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"move {decision.move_id} is recorded but the decision bus did not "
                            f"take it ({public_message(e)}); the reconciler will carry it out") from None
    return {"move_id": decision.move_id, "tenant": tenant, "key": key,
            "source": decision.source, "target": decision.target, "status": "requested",
            "target_bucket": runtime.buckets.of(decision.target)}


@router.get("/objects/{key:path}/content", summary="The object's bytes, wherever they live",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}},
                       404: {"description": "Unknown, deleted, or no bytes in the store"}})
async def get_content(key: str, request: Request, tenant: TenantQ = DEFAULT_TENANT):
    found = await movement(request).open_content(tenant, key)
    if found is None:
        raise HTTPException(404, f"no content for {tenant}/{key}")
    state, bucket, chunks = found
    headers = {"x-tier": state["tier"], "x-bucket": bucket}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.get("/objects/{key:path}/location", summary="Tier and bucket as the log says, live")
async def get_location(key: str, request: Request,
                       tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    runtime = movement(request)
    state = await runtime.live(tenant, key)
    if state is None:
        raise HTTPException(404, f"unknown object {tenant}/{key}")
    return {"tenant": tenant, "key": key, "tier": state["tier"],
            "bucket": runtime.buckets.of(state["tier"]), "move": state["move"],
            "deleted": state["deleted_at"] is not None, "version": state["version"]}


@router.post("/accesses/materialize", summary="Ingest a batch and write real bytes for its objects",
             responses={413: {"description": "Batch or body over the limit"},
                        422: {"description": "A record is invalid; nothing was applied"}})
async def post_accesses_materialized(request: Request, services: ServicesDep,
                                     _: WriterDep) -> dict[str, Any]:
    """Same body and answers as POST /accesses; each PUT (and each object first
    seen here) also gets ``min(size, materialize_cap_bytes)`` bytes in its tier."""
    movement(request)  # 503 without an object store
    return await accesses.post_accesses(request, services, None, materialize=True)


class ImportRequest(BaseModel):
    bucket: str = Field(min_length=3, max_length=63, description="Bucket holding the objects.")
    tenant: str = Field(DEFAULT_TENANT, description="Tenant for names that are not ours.")
    prefix: str = Field("", description="Only names starting with this.")
    start_after: str | None = Field(None, description="Resume after this name (from 'next').")
    limit: int = Field(1000, ge=1, le=10_000)


@router.post("/imports", summary="Register one page of objects already in a bucket")
async def import_page(request: Request, body: ImportRequest, _: WriterDep) -> dict[str, Any]:
    runtime = movement(request)
    try:
        return await asyncio.to_thread(runtime.import_page, body.bucket, body.tenant, body.prefix,
                                       body.start_after, body.limit)
    except Exception as e:  # noqa: BLE001 - most often: no such bucket, or no access
        from tiering.adapters.objectstore import StoreError
        if isinstance(e, StoreError):
            raise HTTPException(422, [{"field": "bucket", "reason": str(e)}]) from None
        raise
