"""Moves and bytes: operator moves, object content, materialising ingest, imports.

Answers come from the owning shard's live state, not from the read model, so
a move just requested is seen at once (409) and content is found mid-move.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from tiering.domain.records import DEFAULT_TENANT
from tiering.services.access import require_tenant
from tiering.services.content_check import md5_checksum
from tiering.web.auth import Admin, Operator, Viewer
from tiering.web.deps import ServicesDep, get_moves
from tiering.web.routers.accesses import IdempotencyKey, ingest_body
from tiering.web.routers.objects import TenantQ

router = APIRouter(tags=["moves"])
# The caller and its tenant are checked before whether the moves runtime is
# up (get_moves, a 503 otherwise): nothing is said about another tenant.
# S3's rules for a bucket name: 3-63 of a-z 0-9 . -, starting and ending with
# a letter or digit, no "..".
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class MoveRequest(BaseModel):
    target: str = Field(description="Tier to move to: hot, warm or cold.")
    reason: str | None = Field(None, max_length=500, description="Why; kept in the object's history.")


@router.post("/objects/{key:path}/move", status_code=status.HTTP_202_ACCEPTED,
             summary="Move an object to another tier (the movers do it)",
             responses={404: {"description": "Unknown or deleted object"},
                        409: {"description": "A move is in flight, or the object is in that tier"},
                        422: {"description": "Bad target tier"}})
async def request_move(who: Operator, key: str, body: Annotated[MoveRequest, Body()],
                       services: ServicesDep, tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    require_tenant(who, tenant)
    moves = get_moves(services)
    services.quotas.check_move(tenant)
    answer = await moves.request(tenant, key, body.target, body.reason, who.identity)
    services.access.record(who, "move.request", tenant, key, {"target": answer["target"],
                                                              "move_id": answer["move_id"]})
    return answer


@router.get("/objects/{key:path}/content", summary="The object's bytes, wherever they live",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}},
                       404: {"description": "Unknown, deleted, or no bytes in the store"},
                       502: {"description": "The stored bytes do not match the checksum in the log"}})
async def get_content(who: Viewer, key: str, services: ServicesDep, tenant: TenantQ = DEFAULT_TENANT):
    require_tenant(who, tenant)
    state, bucket, chunks = await get_moves(services).content(tenant, key)
    headers = {"x-tier": state["tier"], "x-bucket": bucket}
    if md5_checksum(state.get("etag")):
        headers["x-content-md5"] = state["etag"]  # what every byte sent was checked against
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.get("/objects/{key:path}/location", summary="Tier and bucket as the log says, live")
async def get_location(who: Viewer, key: str, services: ServicesDep,
                       tenant: TenantQ = DEFAULT_TENANT) -> dict[str, Any]:
    require_tenant(who, tenant)
    return await get_moves(services).location(tenant, key)


@router.post("/accesses/materialize", summary="Ingest a batch and write real bytes for its objects",
             responses={413: {"description": "Batch or body over the limit"},
                        409: {"description": "The Idempotency-Key was used for other records"},
                        422: {"description": "A record is invalid; nothing was applied"}})
async def post_accesses_materialized(who: Operator, request: Request, response: Response,
                                     services: ServicesDep,
                                     idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """Same body and answers as POST /accesses; each PUT (and each object first
    seen here) also gets ``min(size, materialize_cap_bytes)`` bytes in its tier."""
    return await ingest_body(request, services, True, who, idempotency_key, response)


class ImportRequest(BaseModel):
    bucket: str = Field(min_length=3, max_length=63, description="Bucket holding the objects.")
    tenant: str = Field(DEFAULT_TENANT, min_length=1, max_length=64,
                        description="Tenant for names that are not ours.")
    prefix: str = Field("", max_length=1024, description="Only names starting with this.")
    start_after: str | None = Field(None, max_length=1024, description="Resume after this name (from 'next').")
    limit: int = Field(1000, ge=1, le=10_000)

    @field_validator("bucket")
    @classmethod
    def _s3_bucket_name(cls, name: str) -> str:
        if not BUCKET_NAME.fullmatch(name) or ".." in name:
            raise ValueError("not an S3 bucket name (3-63 of a-z, 0-9, '.', '-'; no '..')")
        return name


@router.post("/imports", summary="Register one page of objects already in a bucket")
async def import_page(who: Admin, body: ImportRequest, services: ServicesDep) -> dict[str, Any]:
    require_tenant(who, body.tenant)
    answer = await get_moves(services).import_page(body.bucket, body.tenant, body.prefix, body.start_after, body.limit)
    services.access.record(who, "bucket.import", body.tenant, body.bucket,
                           {"prefix": body.prefix, "imported": answer["imported"]})
    return answer
