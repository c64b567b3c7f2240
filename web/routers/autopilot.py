"""The decision loop's controls and its decisions.

``/autopilot`` reads and sets the mode (auto, paused = dry run, approval) and
runs a round on demand; ``/decisions`` lists what was decided (from the read
model) and lets an operator approve or reject pending ones (through the
owning shard, so the answer lands in the object's log before any move).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from tiering.domain.governance import ALL_TENANTS, Principal
from tiering.domain.vocabulary import AutopilotMode, DecisionStatus
from tiering.services.access import tenant_scope
from tiering.services.errors import NotFound
from tiering.web import deps
from tiering.web.auth import EstateAdmin, EstateViewer, Operator, Viewer
from tiering.web.deps import AutopilotDep, ReadModelsDep, Services, ServicesDep
from tiering.web.paging import keyset_page

router = APIRouter(tags=["autopilot"])


class ModeChange(BaseModel):
    mode: AutopilotMode = Field(description="auto: decisions move objects; paused: decisions are "
                                   "recorded, nothing moves; approval: decisions wait for an operator.")


@router.get("/autopilot", summary="The decision loop: mode, model, last round")
async def get_autopilot(_: EstateViewer, pilot: AutopilotDep) -> dict[str, Any]:
    return pilot.state()


@router.put("/autopilot", summary="Set the mode: auto, paused (dry run) or approval")
async def set_mode(who: EstateAdmin, body: Annotated[ModeChange, Body()], pilot: AutopilotDep,
                   services: ServicesDep) -> dict[str, Any]:
    answer = pilot.set_mode(body.mode, who.identity)
    services.access.record(who, "autopilot.mode", ALL_TENANTS, body.mode.value)
    return answer


@router.post("/autopilot/run", summary="Run one decision round now, at the newest event time")
async def run_round(who: EstateAdmin, pilot: AutopilotDep, services: ServicesDep) -> dict[str, Any]:
    services.access.record(who, "autopilot.run", ALL_TENANTS)
    return await pilot.run_round()


@router.post("/autopilot/promote",
             summary="Promote on access now: objects in warm or cold accessed since they got there")
async def run_promotions(who: EstateAdmin, pilot: AutopilotDep, services: ServicesDep) -> dict[str, Any]:
    services.access.record(who, "autopilot.promote", ALL_TENANTS)
    return await pilot.promote()


@router.get("/decisions", summary="Decisions, newest first, with their reasons")
def list_decisions(who: Viewer, read_models: ReadModelsDep, tenant: str | None = None,
                   status_: Annotated[DecisionStatus | None, Query(alias="status")] = None,
                   key: str | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return keyset_page(read_models.list_decisions, tenant=tenant_scope(who, tenant),
                       status=status_ and status_.value, key=key, cursor=cursor, limit=limit)


@router.get("/decisions/{decision_id}", summary="One decision")
def get_decision(who: Viewer, decision_id: str, read_models: ReadModelsDep) -> dict[str, Any]:
    return _decision(who, read_models, decision_id)


def _decision(who: Principal, read_models: Any, decision_id: str) -> dict[str, Any]:
    row = read_models.get_decision(decision_id)
    if row is None or not who.sees(row["tenant"]):
        raise NotFound(f"unknown decision {decision_id}")
    return row


async def _answer(who: Principal, services: Services, decision_id: str, approve: bool) -> dict[str, Any]:
    row = await asyncio.to_thread(_decision, who, deps.get_read_models(services), decision_id)
    answer = await deps.get_autopilot(services).answer(decision_id, approve, who.identity)
    services.access.record(who, "decision.approve" if approve else "decision.reject", row["tenant"],
                           decision_id, {"key": row["key"], "target": row["target"]})
    return answer


@router.post("/decisions/{decision_id}/approve", summary="Approve a pending decision: the move follows",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def approve(who: Operator, decision_id: str, services: ServicesDep) -> dict[str, Any]:
    return await _answer(who, services, decision_id, True)


@router.post("/decisions/{decision_id}/reject", summary="Reject a pending decision: nothing moves",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def reject(who: Operator, decision_id: str, services: ServicesDep) -> dict[str, Any]:
    return await _answer(who, services, decision_id, False)
