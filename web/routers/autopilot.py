"""The decision loop's controls and its decisions.

``/autopilot`` reads and sets the mode (auto, paused = dry run, approval) and
runs a round on demand; ``/decisions`` lists what was decided (from the read
model) and lets an operator approve or reject pending ones (through the
owning shard, so the answer lands in the object's log before any move).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from tiering.domain.vocabulary import AutopilotMode, DecisionStatus
from tiering.services.errors import NotFound
from tiering.web.deps import AutopilotDep, ReadModelsDep, WriterDep
from tiering.web.paging import keyset_page

router = APIRouter(tags=["autopilot"])


class ModeChange(BaseModel):
    mode: AutopilotMode = Field(description="auto: decisions move objects; paused: decisions are "
                                   "recorded, nothing moves; approval: decisions wait for an operator.")


class Answer(BaseModel):
    by: str = Field("operator", min_length=1, max_length=100, description="Who answers (kept in the log).")


@router.get("/autopilot", summary="The decision loop: mode, model, last round")
async def get_autopilot(pilot: AutopilotDep) -> dict[str, Any]:
    return pilot.state()


@router.put("/autopilot", summary="Set the mode: auto, paused (dry run) or approval")
async def set_mode(body: Annotated[ModeChange, Body()], pilot: AutopilotDep, _: WriterDep) -> dict[str, Any]:
    return pilot.set_mode(body.mode)


@router.post("/autopilot/run", summary="Run one decision round now, at the newest event time")
async def run_round(pilot: AutopilotDep, _: WriterDep) -> dict[str, Any]:
    return await pilot.run_round()


@router.post("/autopilot/promote",
             summary="Promote on access now: objects in warm or cold accessed since they got there")
async def run_promotions(pilot: AutopilotDep, _: WriterDep) -> dict[str, Any]:
    return await pilot.promote()


@router.get("/decisions", summary="Decisions, newest first, with their reasons")
def list_decisions(read_models: ReadModelsDep, tenant: str | None = None,
                   status_: Annotated[DecisionStatus | None, Query(alias="status")] = None,
                   key: str | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return keyset_page(read_models.list_decisions, tenant=tenant, status=status_ and status_.value, key=key,
                       cursor=cursor, limit=limit)


@router.get("/decisions/{decision_id}", summary="One decision")
def get_decision(decision_id: str, read_models: ReadModelsDep) -> dict[str, Any]:
    row = read_models.get_decision(decision_id)
    if row is None:
        raise NotFound(f"unknown decision {decision_id}")
    return row


@router.post("/decisions/{decision_id}/approve", summary="Approve a pending decision: the move follows",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def approve(decision_id: str, pilot: AutopilotDep, _: WriterDep,
                  body: Annotated[Answer | None, Body()] = None) -> dict[str, Any]:
    return await pilot.answer(decision_id, True, (body or Answer()).by)


@router.post("/decisions/{decision_id}/reject", summary="Reject a pending decision: nothing moves",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def reject(decision_id: str, pilot: AutopilotDep, _: WriterDep,
                 body: Annotated[Answer | None, Body()] = None) -> dict[str, Any]:
    return await pilot.answer(decision_id, False, (body or Answer()).by)
