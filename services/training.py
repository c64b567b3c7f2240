"""The work of a training or what-if job, as the job worker runs it.

A job is described by a ``JobSpec`` (plain values, so it crosses to the Ray
job worker); ``run_job`` does it there. Trace names were resolved to files of
the trace library before the job was queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tiering.config import Settings
from tiering.domain.policy_config import PolicyConfig
from tiering.ingest.formats import TraceError

Progress = Callable[[str, float], None]


class JobFailed(Exception):
    """A job that cannot go on, in words safe to show any caller."""


PUBLIC_JOB_ERRORS = (TraceError, JobFailed)


@dataclass(frozen=True)
class JobSpec:
    kind: str                       # "retrain" or "whatif"
    settings: dict[str, Any]        # Settings.model_dump(mode="json")
    policy: dict[str, Any]          # PolicyConfig.to_dict(): the prices to train against
    trace: str | None = None        # a resolved file of the trace library
    trace_name: str | None = None   # the name the caller gave
    format: str | None = None
    mapping: Any = None             # a parsed csv mapping
    time_scale: float = 720.0
    lbn_grain: int = 2048
    policies: tuple[str, ...] = field(default_factory=tuple)


def run_job(spec: JobSpec, say: Progress) -> dict[str, Any]:
    from tiering.simulation.evaluate import Options

    settings = Settings.model_validate(spec.settings)
    model = PolicyConfig.from_dict(spec.policy).model_for("default", "")
    if spec.kind == "whatif":
        from tiering.simulation.evaluate import evaluate

        report = evaluate(Path(spec.trace or ""), spec.format or "", Options(scale=spec.time_scale),
                          spec.policies, model, spec.mapping,
                          progress=lambda stage, i, n: say(stage, i / max(n, 1)))
        return {"result": {**report, "trace": spec.trace_name}}
    from tiering.adapters.eventstore import open_object_logs
    from tiering.adapters.model_store import StoredModels

    opts = Options(scale=spec.time_scale, lbn_grain=spec.lbn_grain)
    # The models go to the event store: this job may run on any node.
    app = open_object_logs(settings.eventstore_env(), create_tables=False)
    try:
        registry = StoredModels(app)
        if spec.trace is not None:
            from tiering.simulation.retrain import retrain_from_trace

            return {"version": retrain_from_trace(registry, Path(spec.trace), spec.format or "", opts,
                                                  model, spec.mapping, say)}
        return {"version": _retrain_from_store(settings, app, registry, opts, model, say)}
    finally:
        app.close()


def _retrain_from_store(settings: Settings, app, registry, opts, model, say: Progress) -> str:
    from tiering.projections.queries import ReadModels
    from tiering.simulation.retrain import retrain_from_store

    rm = ReadModels.from_settings(settings)
    try:
        m = rm.metrics()
        if m["event_time"] is None:
            raise JobFailed("the event log is empty: nothing to learn from")
        say("listing objects", 0.02)
        keys: list[tuple[str, str]] = []
        cursor = None
        while True:
            rows, cursor = rm.list_objects(include_deleted=True, cursor=cursor, limit=1000)
            keys.extend((r["tenant"], r["key"]) for r in rows)
            if not cursor:
                break
    finally:
        rm.close()
    return retrain_from_store(registry, app, keys, m["first_event_time"], m["event_time"], opts, model, say)
