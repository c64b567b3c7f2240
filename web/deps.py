"""Dependencies: what a route may use, injected with ``Annotated``.

``Services`` is built once by the composition root (``tiering.app.wiring``,
or a test) and handed to ``create_app``; routes take the use case they need
as a typed dependency, and a part of the stack that is not running is a 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, TypeVar

from fastapi import Depends, Request

from tiering.config import Settings
from tiering.services.access import AccessControl
from tiering.services.admission import Admission
from tiering.services.autopilot import AutopilotControls
from tiering.services.errors import Unavailable
from tiering.services.ingest import IngestRecords
from tiering.services.insights import EstateInsights
from tiering.services.jobs import JobRunner, TrainingJobs
from tiering.services.moves import Moves
from tiering.services.policies import Policies
from tiering.services.quotas import QuotaGuard
from tiering.services.webhooks import Webhooks


@dataclass
class Services:
    """Everything the API talks to: use cases, read models, health checks."""

    settings: Settings
    ingest_port: Any = None      # shards.ingest.IngestPort: records only
    read_models: Any = None      # projections.queries.ReadModels
    moves: Moves | None = None   # with an object store and movers
    autopilot: AutopilotControls | None = None
    materializing: Any = None    # an ingest port that also writes bytes
    job_runner: JobRunner | None = None
    access: AccessControl | None = None  # keys and the action log; opened from settings if None
    health_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    metrics: Any = None  # web.metrics.ApiMetrics
    lag: Callable[[], int] | None = None  # events recorded but not yet projected
    quarantined: Callable[[], int] | None = None  # events the projector set aside
    closers: list[Callable[[], Any]] = field(default_factory=list)
    policy_setting: Any = None  # the stored price policy; opened from settings if None

    def __post_init__(self) -> None:
        s = self.settings
        if self.access is None:
            from tiering.adapters.eventstore import open_governance

            log = open_governance(s.eventstore_env(), str(s.governance_path))
            self.access = AccessControl(log)
            self.closers.append(log.close)
        self.webhooks = Webhooks(self.access.log)
        self.closers.insert(0, self.webhooks.close)
        if self.policy_setting is None:
            from tiering.adapters.eventstore import open_object_logs
            from tiering.adapters.stack_settings import StoredSetting
            from tiering.domain.stack_settings import PRICE_POLICY

            store = open_object_logs(s.eventstore_env())
            self.policy_setting = StoredSetting(store, PRICE_POLICY)
            self.closers.append(store.close)
        self.policies = Policies(self.policy_setting)
        rm = self.read_models
        self.quotas = QuotaGuard(self.policies, None if rm is None else lambda tenant: _holdings(rm, tenant),
                                 on_over=lambda tenant, quota, limit: self.webhooks.emit(
                                     tenant, "quota.exceeded", {"quota": quota, "limit": limit}),
                                 event_clock=None if rm is None else rm.event_time,
                                 defaults={"ts_ahead_days": s.ingest_ts_ahead_days,
                                           "ts_behind_days": s.ingest_ts_behind_days})
        self.ingest = IngestRecords(self.ingest_port, s.max_batch_records, self.materializing,
                                    s.ingest_materialize, self.quotas,
                                    Admission.from_settings(s))
        if self.job_runner:
            from tiering.adapters.model_store import StoredModels

            self.jobs = TrainingJobs(s, self.job_runner, self.policies, self.quotas,
                                     StoredModels(self.policy_setting.app))
        else:
            self.jobs = None
        self.insights = EstateInsights(self.read_models) if self.read_models is not None else None
        if self.job_runner is not None:
            self.closers.insert(0, self.job_runner.close)

    def close(self) -> None:
        for close in self.closers:
            close()


def _holdings(read_models: Any, tenant: str) -> dict[str, int]:
    m = read_models.metrics(tenant)
    return {"objects": m["objects_total"], "bytes": m["bytes_total"]}


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


T = TypeVar("T")
READ_MODELS_CLOSED = "the read models are not open"


def running(part: T | None, missing: str) -> T:
    """``part`` of the stack, or a 503 saying that it is not running."""
    if part is None:
        raise Unavailable(missing)
    return part


def get_read_models(services: ServicesDep) -> Any:
    return running(services.read_models, READ_MODELS_CLOSED)


def get_moves(services: ServicesDep) -> Moves:
    return running(services.moves, "the moves runtime is not running (object store and movers)")


def get_autopilot(services: ServicesDep) -> AutopilotControls:
    return running(services.autopilot,
                   "the decision loop is not running (TIERING_AUTOPILOT=false or no movers)")


def get_jobs(services: ServicesDep) -> TrainingJobs:
    return running(services.jobs, "the job worker is not running")


def get_insights(services: ServicesDep) -> EstateInsights:
    return running(services.insights, READ_MODELS_CLOSED)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadModelsDep = Annotated[Any, Depends(get_read_models)]
MovesDep = Annotated[Moves, Depends(get_moves)]
AutopilotDep = Annotated[AutopilotControls, Depends(get_autopilot)]
JobsDep = Annotated[TrainingJobs, Depends(get_jobs)]
InsightsDep = Annotated[EstateInsights, Depends(get_insights)]
def get_policies(services: ServicesDep) -> Policies:
    return services.policies


PoliciesDep = Annotated[Policies, Depends(get_policies)]
