"""The list of moves (`/movements`): one row per move, with its status history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tiering.domain.vocabulary import MoveStatus
from tiering.services.access import tenant_scope
from tiering.services.errors import NotFound
from tiering.web.auth import Viewer
from tiering.web.deps import ReadModelsDep
from tiering.web.paging import keyset_page

router = APIRouter(prefix="/movements", tags=["movements"])


@router.get("", summary="List moves, filtered, with cursor pagination")
def list_movements(who: Viewer, read_models: ReadModelsDep, tenant: str | None = None,
                   status: MoveStatus | None = None,
                   key: str | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return keyset_page(read_models.list_movements, tenant=tenant_scope(who, tenant),
                       status=status and status.value, key=key, cursor=cursor, limit=limit)


@router.get("/{move_id}", summary="One move")
def get_movement(who: Viewer, move_id: str, read_models: ReadModelsDep) -> dict[str, Any]:
    row = read_models.get_movement(move_id)
    if row is None or not who.sees(row["tenant"]):
        raise NotFound(f"unknown move {move_id}")
    return row
