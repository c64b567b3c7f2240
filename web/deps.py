"""Dependencies: what a route may use, injected with ``Annotated``.

``Services`` is built once by the composition root (``tiering.app.wiring``,
or a test) and handed to ``create_app``; routes take the use case they need
as a typed dependency, and a part of the stack that is not running is a 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from fastapi import Depends, Request

from tiering.config import Settings
from tiering.services.access import AccessControl
from tiering.services.autopilot import AutopilotControls
from tiering.services.errors import Unavailable
from tiering.services.ingest import IngestRecords
from tiering.services.insights import EstateInsights
from tiering.services.jobs import JobRunner, TrainingJobs
from tiering.services.moves import Moves
from tiering.services.policies import Policies


@dataclass
class Services:
    """Everything the API talks to: use cases, read models, health checks."""

    settings: Settings
    ingest_port: Any = None      # actors.ingest.IngestPort: records only
    read_models: Any = None      # projections.queries.ReadModels
    moves: Moves | None = None   # with an object store and movers
    autopilot: AutopilotControls | None = None
    materializing: Any = None    # an ingest port that also writes bytes
    job_runner: JobRunner | None = None
    access: AccessControl | None = None  # keys and the action log; opened from settings if None
    health_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    metrics: Any = None  # web.metrics.ApiMetrics
    lag: Callable[[], int] | None = None  # events recorded but not yet projected
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.settings
        if self.access is None:
            from tiering.adapters.eventstore import open_governance

            log = open_governance(s.eventstore_env(), str(s.governance_path))
            self.access = AccessControl(log)
            self.closers.append(log.close)
        self.policies = Policies(s.data_dir / "policy.yaml")
        self.ingest = IngestRecords(self.ingest_port, s.max_batch_records, self.materializing,
                                    s.ingest_materialize)
        self.jobs = TrainingJobs(s, self.job_runner, self.policies) if self.job_runner else None
        self.insights = EstateInsights(self.read_models) if self.read_models is not None else None
        if self.job_runner is not None:
            self.closers.insert(0, self.job_runner.close)

    def close(self) -> None:
        for close in self.closers:
            close()


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_read_models(services: ServicesDep) -> Any:
    if services.read_models is None:
        raise Unavailable("the read models are not open")
    return services.read_models


def get_moves(services: ServicesDep) -> Moves:
    if services.moves is None:
        raise Unavailable("the movement runtime is not running (object store and movers)")
    return services.moves


def get_autopilot(services: ServicesDep) -> AutopilotControls:
    if services.autopilot is None:
        raise Unavailable("the decision loop is not running (TIERING_AUTOPILOT=false or no movers)")
    return services.autopilot


def get_jobs(services: ServicesDep) -> TrainingJobs:
    if services.jobs is None:
        raise Unavailable("the job worker is not running")
    return services.jobs


def get_insights(services: ServicesDep) -> EstateInsights:
    if services.insights is None:
        raise Unavailable("the read models are not open")
    return services.insights


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadModelsDep = Annotated[Any, Depends(get_read_models)]
MovesDep = Annotated[Moves, Depends(get_moves)]
AutopilotDep = Annotated[AutopilotControls, Depends(get_autopilot)]
JobsDep = Annotated[TrainingJobs, Depends(get_jobs)]
InsightsDep = Annotated[EstateInsights, Depends(get_insights)]
def get_policies(services: ServicesDep) -> Policies:
    return services.policies


PoliciesDep = Annotated[Policies, Depends(get_policies)]
