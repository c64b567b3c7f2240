"""Builds the API's services from settings: the one place that knows them all."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from tiering.adapters.eventstore import open_object_logs
from tiering.adapters.ray_spread import per_node
from tiering.config import Settings
from tiering.projections.db import ReadModelDB
from tiering.projections.queries import ReadModels
from tiering.projections.scopes import StoredPolicy
from tiering.web.deps import Services


class EventsQuarantined(RuntimeError):
    """Some events are set aside: the read models are incomplete."""


def build_services(settings: Settings, ingest: Any, *, shard_handles: Sequence[Any] = (),
                   runner: Any = None, moves: Any = None, job_runner: Any = None,
                   watch_incidents: bool = False) -> Services:
    """``moves`` (a MovesRuntime) adds moves, content, imports and the
    autopilot; ``job_runner`` training and what-if jobs; ``watch_incidents``
    tells the webhooks of failed moves, pending decisions and failing checks."""
    store = open_object_logs(settings.eventstore_env())
    db = ReadModelDB.from_settings(settings)
    policy = StoredPolicy.of_store(store)
    read_models = ReadModels(db, policy=policy)

    def event_store() -> dict[str, Any]:
        return {"head": store.recorder.max_notification_id() or 0}

    def read_model_db() -> dict[str, Any]:
        db.fetchone("SELECT 1")
        return {"backend": "postgresql" if settings.uses_postgres else "sqlite"}

    def lag() -> int:
        position, head = read_models.position(), store.recorder.max_notification_id() or 0
        return max(0, head - position)

    def quarantined() -> int:
        return int(db.fetchone("SELECT COUNT(*) FROM rm_quarantine")[0])

    def quarantine() -> dict[str, Any]:
        n = quarantined()
        if n:
            raise EventsQuarantined(f"{n} event(s) could not be projected: tiering projections quarantine list")
        return {"events": 0}

    checks = {"event_store": event_store, "read_models": read_model_db,
              "projections": lambda: {"lag_events": lag()}, "quarantine": quarantine}
    if shard_handles:
        def shards() -> dict[str, Any]:
            import ray

            alive = ray.get([h.where.remote() for h in shard_handles], timeout=4)
            return {"alive": len(alive), "expected": settings.shards, "nodes": per_node(alive)}

        checks["shards"] = shards
    if runner is not None:
        def runner_alive() -> dict[str, Any]:
            import ray

            position, head = ray.get(runner.lag.remote(), timeout=4)
            return {"position": position, "head": head}

        checks["projection_runner"] = runner_alive
    extra = moves.use_cases() if moves is not None else {}
    if moves is not None:
        checks["movement"] = moves.health  # the name /health has always shown
    services = Services(settings=settings, ingest_port=ingest, read_models=read_models, job_runner=job_runner,
                        health_checks=checks, lag=lag, quarantined=quarantined, closers=[store.close, db.close],
                        policy_setting=policy.setting, **extra)
    if watch_incidents:
        from tiering.services.incidents import IncidentWatch

        watch, stop = IncidentWatch(store, services.webhooks, checks, lag), threading.Event()
        thread = threading.Thread(target=watch.run_forever, args=(stop, settings.incident_poll_s),
                                  name="incidents", daemon=True)
        thread.start()

        def stop_watch() -> None:
            # A tick in progress must end before the stores it reads are closed.
            stop.set()
            thread.join(timeout=5)

        services.closers.insert(0, stop_watch)
    return services
