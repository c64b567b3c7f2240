"""Models and policies: training and what-if jobs, the current model, price overrides.

Jobs run in the job worker (a Ray actor in a launched stack), never in the
API process; they live in its memory (a restart forgets running jobs, not
models: those are in the event store). Trace jobs read
only the trace library, ``data_dir/traces``, by bare name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, status
from pydantic import BaseModel, Field

from tiering.domain.governance import ALL_TENANTS
from tiering.ingest.formats import TraceError
from tiering.ingest.trace_library import TraceTooLarge
from tiering.services.errors import TooLarge, invalid
from tiering.web.auth import EstateAdmin, EstateViewer, Viewer
from tiering.web.deps import JobsDep, PoliciesDep, ServicesDep, SettingsDep

router = APIRouter(tags=["ml"])

_TRACE_NAME = ("A file name in the trace library, data_dir/traces: GET /whatif/traces lists them, "
               "PUT /whatif/traces/{name} uploads one. Never a path.")


class RetrainRequest(BaseModel):
    trace: str | None = Field(None, description=_TRACE_NAME + " Omit it to train on the live event log.")
    format: str | None = Field(None, description="With a trace: ibm-cos, cloudphysics, msr, systor or csv.")
    time_scale: float = Field(720.0, gt=0, le=1e9, description="With a trace: billing seconds per trace second.")
    lbn_grain: int = Field(2048, ge=1, le=2 ** 32)
    mapping: str | None = Field(None, max_length=1000, description="csv only: ts=COL,key=COL,op=COL,size=COL")


class WhatIfRequest(BaseModel):
    trace: str = Field(description=_TRACE_NAME)
    format: str = Field(description="ibm-cos, cloudphysics, msr, systor or csv.")
    time_scale: float = Field(720.0, gt=0, le=1e9, description="Billing seconds per trace second.")
    policies: list[str] | None = Field(None, max_length=32, description="Policies to compare (default: all).")
    mapping: str | None = Field(None, max_length=1000, description="csv only: ts=COL,key=COL,op=COL,size=COL")


@router.post("/ml/retrain", status_code=status.HTTP_202_ACCEPTED, summary="Start a training job",
             responses={429: {"description": "Too many jobs queued"}})
async def retrain(who: EstateAdmin, jobs: JobsDep, services: ServicesDep,
                  body: RetrainRequest = Body(default_factory=RetrainRequest)) -> dict[str, Any]:
    answer = await jobs.retrain(body.model_dump(), body.trace, body.format, body.mapping,
                                body.time_scale, body.lbn_grain)
    services.access.record(who, "ml.retrain", ALL_TENANTS, answer["id"], {"trace": body.trace})
    return answer


@router.get("/ml/jobs/{job_id}", summary="A training or what-if job: status, stage, progress, result")
async def job(_: EstateAdmin, job_id: str, jobs: JobsDep) -> dict[str, Any]:
    return await jobs.job(job_id)


@router.get("/whatif/traces", summary="Traces a what-if or retrain can run on (the trace library)")
async def whatif_traces(_: EstateAdmin, jobs: JobsDep, settings: SettingsDep) -> dict[str, Any]:
    return {"dir": "data_dir/traces", "max_bytes": settings.max_trace_bytes, "traces": jobs.library.list()}


@router.put("/whatif/traces/{name}", status_code=status.HTTP_201_CREATED,
            summary="Upload a trace into the trace library (the request body is the file)")
async def upload_trace(who: EstateAdmin, name: str, request: Request, jobs: JobsDep,
                       services: ServicesDep) -> dict[str, Any]:
    library = jobs.library
    try:
        library.check_name(name)
        declared = int(request.headers.get("content-length") or 0)
    except TraceError as e:
        raise invalid("name", str(e)) from None
    except ValueError:
        raise invalid("content-length", "must be a whole number of bytes") from None
    if declared > library.max_bytes:
        raise TooLarge(f"the upload is over the limit of {library.max_bytes:,} bytes (TIERING_MAX_TRACE_BYTES)")
    try:
        saved = await library.save(name, request.stream())
    except TraceTooLarge as e:
        raise TooLarge(str(e)) from None
    except TraceError as e:
        raise invalid("name", str(e)) from None
    services.access.record(who, "trace.upload", ALL_TENANTS, name, {"size": saved.get("size")})
    return saved


@router.post("/whatif", status_code=status.HTTP_202_ACCEPTED,
             summary="Evaluate every policy on a trace from the trace library (a job)",
             responses={429: {"description": "Too many jobs queued"}})
async def whatif(who: EstateAdmin, jobs: JobsDep, services: ServicesDep,
                 body: WhatIfRequest = Body()) -> dict[str, Any]:
    answer = await jobs.whatif(body.model_dump(), body.trace, body.format, body.mapping, body.time_scale,
                               body.policies)
    services.access.record(who, "ml.whatif", ALL_TENANTS, answer["id"], {"trace": body.trace})
    return answer


@router.get("/ml/model", summary="The current model: version, holdout metrics, importances")
async def current_model(_: Viewer, jobs: JobsDep) -> dict[str, Any]:
    return jobs.model()


@router.get("/policies", summary="Price overrides per tenant and key prefix")
async def get_policies(_: EstateViewer, policies: PoliciesDep) -> dict[str, Any]:
    return policies.current().to_dict()


@router.put("/policies", summary="Replace the price overrides")
async def put_policies(who: EstateAdmin, policies: PoliciesDep, services: ServicesDep,
                       body: dict[str, Any] = Body()) -> dict[str, Any]:
    answer = policies.replace(body, who.identity)
    services.access.record(who, "policies.replace", ALL_TENANTS, "price-policy", answer)
    return answer
