"""The decision loop's controls and its decisions.

``/autopilot`` reads and sets the mode (auto, paused = dry run, approval) and
runs a round on demand; ``/decisions`` lists what was decided (from the read
model) and lets an operator approve or reject pending ones (through the
owning shard, so the answer lands in the object's log before any move).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from tiering.domain.model import DomainRuleError
from tiering.domain.vocabulary import AutopilotMode, DecisionStatus
from tiering.web.deps import ServicesDep, WriterDep
from tiering.web.errors import public_message
from tiering.web.paging import keyset_page

router = APIRouter(tags=["autopilot"])


def autopilot(request: Request):
    runtime = getattr(request.app.state, "movement", None)
    pilot = getattr(runtime, "autopilot", None)
    if pilot is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the decision loop is not running (TIERING_AUTOPILOT=false or no movers)")
    return runtime, pilot


class ModeChange(BaseModel):
    mode: AutopilotMode = Field(description="auto: decisions move objects; paused: decisions are "
                                   "recorded, nothing moves; approval: decisions wait for an operator.")


class Answer(BaseModel):
    by: str = Field("operator", min_length=1, max_length=100, description="Who answers (kept in the log).")


@router.get("/autopilot", summary="The decision loop: mode, model, last round")
async def get_autopilot(request: Request) -> dict[str, Any]:
    return autopilot(request)[1].state()


@router.put("/autopilot", summary="Set the mode: auto, paused (dry run) or approval")
async def set_mode(request: Request, body: Annotated[ModeChange, Body()], _: WriterDep) -> dict[str, Any]:
    return autopilot(request)[1].set_mode(body.mode.value)


@router.post("/autopilot/run", summary="Run one decision round now, at the newest event time")
async def run_round(request: Request, _: WriterDep) -> dict[str, Any]:
    runtime, pilot = autopilot(request)
    return await runtime.acall(pilot.run_round())


@router.post("/autopilot/promote",
             summary="Promote on access now: objects in warm or cold accessed since they got there")
async def run_promotions(request: Request, _: WriterDep) -> dict[str, Any]:
    runtime, pilot = autopilot(request)
    return await runtime.acall(pilot.run_promotions())


@router.get("/decisions", summary="Decisions, newest first, with their reasons")
def list_decisions(services: ServicesDep, tenant: str | None = None,
                   status_: Annotated[DecisionStatus | None, Query(alias="status")] = None,
                   key: str | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return keyset_page(services.read_models.list_decisions, tenant=tenant, status=status_ and status_.value, key=key,
                       cursor=cursor, limit=limit)


@router.get("/decisions/{decision_id}", summary="One decision")
def get_decision(decision_id: str, services: ServicesDep) -> dict[str, Any]:
    row = services.read_models.get_decision(decision_id)
    if row is None:
        raise HTTPException(404, f"unknown decision {decision_id}")
    return row


async def _answer(request: Request, decision_id: str, outcome: str, by: str) -> dict[str, Any]:
    runtime, pilot = autopilot(request)
    try:
        return await runtime.acall(pilot.answer(decision_id, outcome, by))
    except KeyError:
        raise HTTPException(404, f"unknown decision {decision_id} (or not yet in the read model)") from None
    except DomainRuleError as e:
        raise HTTPException(409, public_message(e)) from None


@router.post("/decisions/{decision_id}/approve", summary="Approve a pending decision: the move follows",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def approve(decision_id: str, request: Request, _: WriterDep,
                  body: Annotated[Answer | None, Body()] = None) -> dict[str, Any]:
    return await _answer(request, decision_id, "approved", (body or Answer()).by)


@router.post("/decisions/{decision_id}/reject", summary="Reject a pending decision: nothing moves",
             responses={404: {"description": "Unknown decision"}, 409: {"description": "Not pending"}})
async def reject(decision_id: str, request: Request, _: WriterDep,
                 body: Annotated[Answer | None, Body()] = None) -> dict[str, Any]:
    return await _answer(request, decision_id, "rejected", (body or Answer()).by)
