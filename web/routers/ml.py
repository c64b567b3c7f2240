"""Models and policies: retrain jobs, the current model, price overrides.

Training runs in a worker thread, so it never blocks the event loop; jobs
live in memory (a restart forgets running jobs, not models: those are in the
registry under ``data_dir/models``). Price overrides are kept in
``data_dir/policy.yaml``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel, Field

from domain.policy_config import PolicyConfig
from web.deps import ServicesDep, WriterDep

router = APIRouter(tags=["ml"])


class MlState:
    def __init__(self, data_dir: Path):
        from ml.registry import ModelRegistry

        self.registry = ModelRegistry(data_dir / "models")
        self.policy_path = data_dir / "policy.yaml"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self.lock = threading.Lock()


def ml_state(request: Request, services) -> MlState:
    state = getattr(request.app.state, "ml", None)
    if state is None:
        state = request.app.state.ml = MlState(Path(services.settings.data_dir))
    return state


class RetrainRequest(BaseModel):
    trace: str = Field(description="Trace file readable by the API process.")
    format: str = Field(description="ibm-cos, cloudphysics, msr, systor or csv.")
    time_scale: float = Field(720.0, gt=0, description="Billing seconds per trace second.")
    lbn_grain: int = Field(2048, ge=1)
    mapping: str | None = Field(None, description="csv only: ts=COL,key=COL,op=COL,size=COL")


def _run_job(state: MlState, job_id: str, body: RetrainRequest, config: PolicyConfig) -> None:
    from ingest.traces import parse_csv_mapping
    from ml.evaluate import Options
    from ml.retrain import retrain_from_trace

    state.jobs[job_id]["status"] = "running"
    try:
        mapping = parse_csv_mapping(body.mapping) if body.mapping else None
        version = retrain_from_trace(state.registry, body.trace, body.format,
                                     Options(scale=body.time_scale, lbn_grain=body.lbn_grain),
                                     config.model_for("default", ""), mapping)
        state.jobs[job_id].update(status="succeeded", version=version)
    except Exception as e:  # noqa: BLE001 - reported on the job
        state.jobs[job_id].update(status="failed", error=f"{type(e).__name__}: {e}")


@router.post("/ml/retrain", status_code=status.HTTP_202_ACCEPTED, summary="Start a training job")
async def retrain(request: Request, services: ServicesDep, _: WriterDep,
                  body: RetrainRequest = Body()) -> dict[str, Any]:
    from ingest.traces import FORMATS

    if body.format not in FORMATS:
        raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
    if not Path(body.trace).is_file():
        raise HTTPException(422, f"no such trace file: {body.trace}")
    state = ml_state(request, services)
    job_id = uuid.uuid4().hex
    state.jobs[job_id] = {"id": job_id, "status": "queued", "request": body.model_dump()}
    asyncio.get_running_loop().run_in_executor(state.pool, _run_job, state, job_id, body,
                                               _load_config(state))
    return {"id": job_id, "status": "queued"}


@router.get("/ml/jobs/{job_id}", summary="A training job's state")
async def job(job_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    found = ml_state(request, services).jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"unknown job {job_id}")
    return found


@router.get("/ml/model", summary="The current model: version, holdout metrics, importances")
async def current_model(request: Request, services: ServicesDep) -> dict[str, Any]:
    try:
        return ml_state(request, services).registry.meta()
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None


def _load_config(state: MlState) -> PolicyConfig:
    if not state.policy_path.exists():
        return PolicyConfig()
    from tiering_app.policy_file import load_policy_file

    return load_policy_file(state.policy_path)


@router.get("/policies", summary="Price overrides per tenant and key prefix")
async def get_policies(request: Request, services: ServicesDep) -> dict[str, Any]:
    return _load_config(ml_state(request, services)).to_dict()


@router.put("/policies", summary="Replace the price overrides")
async def put_policies(request: Request, services: ServicesDep, _: WriterDep,
                       body: dict[str, Any] = Body()) -> dict[str, Any]:
    from tiering_app.policy_file import dump_policy

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
