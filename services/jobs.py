"""Training and what-if jobs: checked here, run by a job worker elsewhere.

Everything a caller can get wrong (format, csv mapping, trace name, policy
names) is refused before a job is queued; the job itself runs in the job
worker (a Ray actor in a launched stack), never in the API process.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol, Sequence

from tiering.config import Settings
from tiering.domain.governance import ALL_TENANTS
from tiering.ingest.formats import TraceError
from tiering.ingest.trace_library import TraceLibrary
from tiering.ingest.traces import FORMATS
from tiering.services.errors import Busy, NotFound, invalid
from tiering.services.policies import Policies
from tiering.services.quotas import QuotaGuard
from tiering.services.training import JobSpec

TRACE_FORMATS = FORMATS  # what the trace library parses, said once (ingest.traces)


class JobRunner(Protocol):
    async def submit(self, job_id: str, kind: str, request: dict[str, Any],
                     spec: JobSpec) -> dict[str, Any] | None: ...

    async def get(self, job_id: str) -> dict[str, Any] | None: ...

    async def unfinished(self) -> int: ...

    def close(self) -> None: ...


class TrainingJobs:
    def __init__(self, settings: Settings, runner: JobRunner, policies: Policies,
                 quotas: QuotaGuard | None = None, models: Any = None):
        self.settings = settings
        self.runner = runner
        self.policies = policies
        self.quotas = quotas
        self.models = models  # adapters.model_store.StoredModels; None: no model store
        self.library = TraceLibrary(settings.data_dir / "traces", settings.max_trace_bytes)

    async def retrain(self, request: dict[str, Any], trace: str | None, fmt: str | None,
                      mapping: str | None, time_scale: float, lbn_grain: int) -> dict[str, Any]:
        """Train on a trace of the library, or on the live event log (no trace)."""
        spec = JobSpec("retrain", self._payload(), self.policies.current().to_dict(),
                       time_scale=time_scale, lbn_grain=lbn_grain)
        if trace is not None:
            parsed = check_trace_args(fmt, mapping)
            spec = JobSpec("retrain", spec.settings, spec.policy, str(self._resolve(trace)), trace,
                           fmt, parsed, time_scale, lbn_grain)
        return await self._submit(spec, request)

    async def whatif(self, request: dict[str, Any], trace: str, fmt: str, mapping: str | None,
                     time_scale: float, policies: Sequence[str] | None) -> dict[str, Any]:
        """Every policy (or the ones named) scored on a trace of the library."""
        from tiering.simulation.evaluate import POLICIES

        parsed = check_trace_args(fmt, mapping)
        path = self._resolve(trace)
        bad = [p for p in policies or () if p not in POLICIES]
        if bad:
            raise invalid("policies", f"unknown {bad[0]!r}; expected some of {', '.join(POLICIES)}")
        spec = JobSpec("whatif", self._payload(), self.policies.current().to_dict(), str(path), trace,
                       fmt, parsed, time_scale, policies=tuple(policies or POLICIES))
        return await self._submit(spec, request)

    async def job(self, job_id: str) -> dict[str, Any]:
        found = await self.runner.get(job_id)
        if found is None:
            raise NotFound(f"unknown job {job_id}")
        return found

    def model(self) -> dict[str, Any]:
        """The current model's card: version, holdout metrics, importances."""
        if self.models is None:
            raise NotFound("no model has been saved yet")
        try:
            return self.models.meta()
        except KeyError as e:
            raise NotFound(str(e.args[0])) from None

    def _payload(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def _resolve(self, name: str):
        try:
            return self.library.resolve(name)
        except TraceError as e:
            raise invalid("trace", str(e)) from None

    async def _submit(self, spec: JobSpec, request: dict[str, Any]) -> dict[str, Any]:
        if self.quotas is not None:  # jobs span every tenant: the default quota applies
            self.quotas.check_jobs(ALL_TENANTS, await self.runner.unfinished())
        job_id = uuid.uuid4().hex
        queued = await self.runner.submit(job_id, spec.kind, request, spec)
        if queued is None:
            raise Busy("too many jobs are queued or running; try again when one has finished")
        return {"id": job_id, "job_id": job_id, "status": "queued"}


def check_trace_args(fmt: str | None, mapping: str | None):
    """The format and the csv mapping, checked before a job starts: the csv
    mapping parsed (its errors quote only what the caller sent)."""
    from tiering.ingest.traces import FORMATS, parse_csv_mapping

    if fmt not in FORMATS:
        raise invalid("format", f"must be one of {', '.join(FORMATS)}")
    if mapping is None:
        if fmt == "csv":
            raise invalid("mapping", "format csv needs a mapping, e.g. ts=time,key=path,op=method")
        return None
    if fmt != "csv":
        raise invalid("mapping", "applies only to format csv")
    try:
        return parse_csv_mapping(mapping)
    except ValueError as e:
        raise invalid("mapping", str(e)) from None
