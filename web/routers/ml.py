"""Models and policies: retrain jobs, the current model, price overrides.

Training runs in a worker thread, so it never blocks the event loop; jobs
live in memory (a restart forgets running jobs, not models: those are in the
registry under ``data_dir/models``). Price overrides are kept in
``data_dir/policy.yaml``; ``/metrics`` applies them when it reads, and the
projection runner re-buckets its per-prefix aggregates on its next poll after
the set of prefixes changes (projections.scopes).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel, Field

from tiering.domain.policy_config import PolicyConfig
from tiering.ingest.formats import TraceError
from tiering.ingest.trace_library import TraceLibrary, TraceTooLarge
from tiering.web.deps import ServicesDep, WriterDep

router = APIRouter(tags=["ml"])
log = logging.getLogger(__name__)


class MlState:
    def __init__(self, data_dir: Path):
        from tiering.ml.registry import ModelRegistry

        self.registry = ModelRegistry(data_dir / "models")
        self.policy_path = data_dir / "policy.yaml"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self.lock = threading.Lock()

    def shutdown(self) -> None:
        """Drop queued jobs; a running one finishes its current statement
        before the read models close (ReadModelDB.close waits for it)."""
        self.pool.shutdown(wait=False, cancel_futures=True)


def ml_state(request: Request, services) -> MlState:
    state = getattr(request.app.state, "ml", None)
    if state is None:
        state = request.app.state.ml = MlState(Path(services.settings.data_dir))
    return state


_TRACE_NAME = ("A file name in the trace library, data_dir/traces: GET /whatif/traces lists them, "
               "PUT /whatif/traces/{name} uploads one. Never a path.")


class RetrainRequest(BaseModel):
    trace: str | None = Field(None, description=_TRACE_NAME + " Omit it to train on the live event log.")
    format: str | None = Field(None, description="With a trace: ibm-cos, cloudphysics, msr, systor or csv.")
    time_scale: float = Field(720.0, gt=0, description="With a trace: billing seconds per trace second.")
    lbn_grain: int = Field(2048, ge=1)
    mapping: str | None = Field(None, description="csv only: ts=COL,key=COL,op=COL,size=COL")


class WhatIfRequest(BaseModel):
    trace: str = Field(description=_TRACE_NAME)
    format: str = Field(description="ibm-cos, cloudphysics, msr, systor or csv.")
    time_scale: float = Field(720.0, gt=0, description="Billing seconds per trace second.")
    policies: list[str] | None = Field(None, description="Policies to compare (default: all).")
    mapping: str | None = Field(None, description="csv only: ts=COL,key=COL,op=COL,size=COL")


class JobFailed(Exception):
    """A job that cannot go on, in words safe to show any caller."""


def _progress(state: MlState, job_id: str):
    def say(stage: str, fraction: float) -> None:
        state.jobs[job_id].update(stage=stage, progress=round(min(1.0, max(0.0, fraction)), 3))
    return say


def _run_job(state: MlState, job_id: str, work) -> None:
    state.jobs[job_id]["status"] = "running"
    try:
        state.jobs[job_id].update(status="succeeded", progress=1.0, **work(_progress(state, job_id)))
    except (TraceError, JobFailed) as e:  # written for callers: never the file's contents
        state.jobs[job_id].update(status="failed", error=str(e))
    except Exception:  # noqa: BLE001 - reported on the job, details in the server log only
        # Any other message may quote what the job read (a parser's or a
        # library's), so the caller gets a reference, not the text.
        log.exception("job %s (%s) failed", job_id, state.jobs[job_id]["kind"])
        state.jobs[job_id].update(status="failed", error=(
            f"{state.jobs[job_id]['kind']} failed on an internal error; "
            f"the server log has the details under job {job_id}"))


def _start(request: Request, services, kind: str, body: BaseModel, work) -> dict[str, Any]:
    state = ml_state(request, services)
    job_id = uuid.uuid4().hex
    state.jobs[job_id] = {"id": job_id, "job_id": job_id, "kind": kind, "status": "queued",
                          "stage": "queued", "progress": 0.0, "request": body.model_dump()}
    asyncio.get_running_loop().run_in_executor(state.pool, _run_job, state, job_id, work)
    return {"id": job_id, "job_id": job_id, "status": "queued"}


def _invalid(field: str, reason: str) -> HTTPException:
    return HTTPException(422, [{"field": field, "reason": reason}])


def _check_trace_args(fmt: str | None, mapping: str | None):
    """The format and the csv mapping, checked before a job starts: the csv
    mapping parsed (its errors quote only what the caller sent)."""
    from tiering.ingest.traces import FORMATS, parse_csv_mapping

    if fmt not in FORMATS:
        raise _invalid("format", f"must be one of {', '.join(FORMATS)}")
    if mapping is None:
        if fmt == "csv":
            raise _invalid("mapping", "format csv needs a mapping, e.g. ts=time,key=path,op=method")
        return None
    if fmt != "csv":
        raise _invalid("mapping", "applies only to format csv")
    try:
        return parse_csv_mapping(mapping)
    except ValueError as e:
        raise _invalid("mapping", str(e)) from None


def _library(services) -> TraceLibrary:
    settings = services.settings
    return TraceLibrary(Path(settings.data_dir) / "traces", settings.max_trace_bytes)


def _resolve_trace(services, name: str) -> Path:
    try:
        return _library(services).resolve(name)
    except TraceError as e:
        raise _invalid("trace", str(e)) from None


@router.post("/ml/retrain", status_code=status.HTTP_202_ACCEPTED, summary="Start a training job")
async def retrain(request: Request, services: ServicesDep, _: WriterDep,
                  body: RetrainRequest = Body(default_factory=RetrainRequest)) -> dict[str, Any]:
    from tiering.simulation.evaluate import Options

    state = ml_state(request, services)
    config = _load_config(state)
    opts = Options(scale=body.time_scale, lbn_grain=body.lbn_grain)
    if body.trace is not None:
        mapping = _check_trace_args(body.format, body.mapping)
        path = _resolve_trace(services, body.trace)

        def work(say):
            from tiering.simulation.retrain import retrain_from_trace

            return {"version": retrain_from_trace(state.registry, path, body.format, opts,
                                                  config.model_for("default", ""), mapping, say)}
    else:
        def work(say):
            return {"version": _retrain_from_store(services, state, opts, config, say)}
    return _start(request, services, "retrain", body, work)


def _retrain_from_store(services, state: MlState, opts, config: PolicyConfig, say) -> str:
    from tiering.adapters.eventstore import open_object_logs
    from tiering.simulation.retrain import retrain_from_store

    rm = services.read_models
    m = rm.metrics()
    if m["event_time"] is None:
        raise JobFailed("the event log is empty: nothing to learn from")
    say("listing objects", 0.02)
    keys, cursor = [], None
    while True:
        rows, cursor = rm.list_objects(include_deleted=True, cursor=cursor, limit=1000)
        keys.extend((r["tenant"], r["key"]) for r in rows)
        if not cursor:
            break
    app = open_object_logs(services.settings.eventstore_env(), create_tables=False)
    try:
        return retrain_from_store(state.registry, app, keys, m["first_event_time"], m["event_time"],
                                  opts, config.model_for("default", ""), say)
    finally:
        app.close()


@router.get("/ml/jobs/{job_id}", summary="A training or what-if job: status, stage, progress, result")
async def job(job_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    found = ml_state(request, services).jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"unknown job {job_id}")
    return found


@router.get("/whatif/traces", summary="Traces a what-if or retrain can run on (the trace library)")
async def whatif_traces(services: ServicesDep) -> dict[str, Any]:
    return {"dir": "data_dir/traces", "max_bytes": services.settings.max_trace_bytes,
            "traces": _library(services).list()}


@router.put("/whatif/traces/{name}", status_code=status.HTTP_201_CREATED,
            summary="Upload a trace into the trace library (the request body is the file)")
async def upload_trace(name: str, request: Request, services: ServicesDep,
                       _: WriterDep) -> dict[str, Any]:
    library = _library(services)
    try:
        library.check_name(name)
        declared = int(request.headers.get("content-length") or 0)
    except TraceError as e:
        raise _invalid("name", str(e)) from None
    except ValueError:
        raise _invalid("content-length", "must be a whole number of bytes") from None
    if declared > library.max_bytes:
        raise HTTPException(413, f"the upload is over the limit of {library.max_bytes:,} bytes "
                                 "(TIERING_MAX_TRACE_BYTES)")
    try:
        return await library.save(name, request.stream())
    except TraceTooLarge as e:
        raise HTTPException(413, str(e)) from None
    except TraceError as e:
        raise _invalid("name", str(e)) from None


@router.post("/whatif", status_code=status.HTTP_202_ACCEPTED,
             summary="Evaluate every policy on a trace from the trace library (a job)")
async def whatif(request: Request, services: ServicesDep, _: WriterDep,
                 body: WhatIfRequest = Body()) -> dict[str, Any]:
    from tiering.simulation.evaluate import POLICIES, Options

    mapping = _check_trace_args(body.format, body.mapping)
    path = _resolve_trace(services, body.trace)
    bad = [p for p in body.policies or () if p not in POLICIES]
    if bad:
        raise _invalid("policies", f"unknown {bad[0]!r}; expected some of {', '.join(POLICIES)}")
    config = _load_config(ml_state(request, services))

    def work(say):
        from tiering.simulation.evaluate import evaluate

        report = evaluate(path, body.format, Options(scale=body.time_scale),
                          body.policies or POLICIES, config.model_for("default", ""), mapping,
                          progress=lambda stage, i, n: say(stage, i / max(n, 1)))
        return {"result": {**report, "trace": body.trace}}
    return _start(request, services, "whatif", body, work)


@router.get("/ml/model", summary="The current model: version, holdout metrics, importances")
async def current_model(request: Request, services: ServicesDep) -> dict[str, Any]:
    try:
        return ml_state(request, services).registry.meta()
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None


def _load_config(state: MlState) -> PolicyConfig:
    if not state.policy_path.exists():
        return PolicyConfig()
    from tiering.adapters.policy_file import load_policy_file

    return load_policy_file(state.policy_path)


@router.get("/policies", summary="Price overrides per tenant and key prefix")
async def get_policies(request: Request, services: ServicesDep) -> dict[str, Any]:
    return _load_config(ml_state(request, services)).to_dict()


@router.put("/policies", summary="Replace the price overrides")
async def put_policies(request: Request, services: ServicesDep, _: WriterDep,
                       body: dict[str, Any] = Body()) -> dict[str, Any]:
    from tiering.adapters.policy_file import dump_policy

    try:
        config = PolicyConfig.from_dict(body)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    state = ml_state(request, services)
    with state.lock:
        tmp = state.policy_path.with_suffix(".tmp")
        tmp.write_text(dump_policy(config))
        tmp.replace(state.policy_path)
    return config.to_dict()
