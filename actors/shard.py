"""A shard owns a hash partition of objects and is the only writer of their logs.

``ShardWorker`` is plain Python so the simulator and tests can run it
in-process; ``ShardActor`` is the same class as a restartable Ray actor.
"""

from __future__ import annotations

import gc
import os
from dataclasses import asdict
from typing import Any, Sequence

from tiering.actors.existence import existence_probe
from tiering.actors.routing import RecordColumns, to_records
from tiering.adapters.eventstore import open_object_logs
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.model import StoredObject


def describe_object(obj: StoredObject) -> dict[str, Any]:
    return {
        "object_id": str(obj.id), "tenant": obj.tenant, "key": obj.key,
        "incarnation": obj.incarnation, "tier": obj.tier.value, "size": obj.size,
        "etag": obj.etag, "origin": obj.origin, "registered_at": obj.registered_at,
        "last_access_at": obj.last_access_at, "accesses_total": obj.accesses_total,
        "deleted_at": obj.deleted_at, "move": obj.move, "recommendation": obj.recommendation,
        "version": obj.version, "log_time": obj.log_time,
    }


OBJECT_COMMANDS = frozenset({
    "overwrite", "delete", "recommend", "resolve_recommendation", "request_move",
    "record_copied", "record_verified", "commit_move", "record_source_reclaimed", "abort_move",
    "fail_move",
})


# Commands whose event is stamped with the tenant's event time when recorded:
# a caller's ``at`` is what it knows of that time, raised to what the shard knows.
STAMPED_COMMANDS = frozenset({
    "recommend", "resolve_recommendation", "request_move", "record_copied", "record_verified",
    "commit_move", "record_source_reclaimed", "abort_move", "fail_move",
})


def stamped(app: ObjectLogApplication, tenant: str, command: str,
            kwargs: dict[str, Any]) -> dict[str, Any]:
    if command not in STAMPED_COMMANDS:
        return kwargs
    return {**kwargs, "at": app.tenant_now(tenant, kwargs.get("at"))}


def open_store(settings: Settings, *, create_tables: bool = True) -> ObjectLogApplication:
    return open_object_logs(settings.eventstore_env(), create_tables=create_tables)


class ShardWorker:
    def __init__(self, index: int, settings: dict[str, Any] | Settings,
                 app: ObjectLogApplication | None = None, *, create_tables: bool = True):
        self.index = index
        self.settings = settings if isinstance(settings, Settings) else Settings(**settings)
        # Everything the shard knows is in the event store: a restarted shard
        # starts with an empty cache and reloads objects as they are touched.
        # The simulator passes an in-memory application instead. Actors started
        # together pass create_tables=False: the driver made the schema first.
        self.app = app or open_store(self.settings, create_tables=create_tables)
        self.app.existence_probe = existence_probe(self.app.recorder)

    def ingest(self, rows: RecordColumns, batch_id: str) -> dict[str, Any]:
        """Returns only after the batch's events are committed."""
        return asdict(self.app.ingest(to_records(rows), batch_id))

    def get_object(self, tenant: str, key: str) -> dict[str, Any] | None:
        obj = self.app.current(tenant, key)
        return None if obj is None else describe_object(obj)

    def history(self, tenant: str, key: str) -> list[dict[str, Any]]:
        return [asdict(h) for h in self.app.history(tenant, key)]

    def apply(self, tenant: str, key: str, command: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run one whitelisted aggregate command on the live incarnation.

        Movers and the decision loop write through the owning shard, never to
        the store directly, so the shard stays the single writer of its objects.
        Returns ``{"changed": bool, "object": state}``; a rule violation raises
        the domain's DomainRuleError, an unknown key KeyError.
        """
        if command not in OBJECT_COMMANDS:
            raise ValueError(f"unknown command {command!r}; allowed: {sorted(OBJECT_COMMANDS)}")
        kwargs = stamped(self.app, tenant, command, kwargs)
        outcome = self.app.command(tenant, key, lambda obj: getattr(obj, command)(**kwargs))
        return {"changed": outcome is not False, "object": self.get_object(tenant, key)}

    def stats(self) -> dict[str, Any]:
        import psutil

        cache = self.app.repository.cache
        return {"shard": self.index, "pid": os.getpid(),
                "rss_bytes": psutil.Process().memory_info().rss,
                "cached_objects": len(getattr(cache, "cache", {})) if cache is not None else 0}

    # ----- movement: steps that touch the object store ------------
    def placement(self, op: str, *args: Any) -> Any:
        """Run one object-store step (``actors.placement``) in this shard's serial
        order, so its log check and its store write see no other write between."""
        from tiering.actors import placement

        return placement.run(self, op, *args)

    def placement_steps(self):
        from tiering.actors import placement

        return placement.placement_of(self)

    # ----- decisions on a schedule of event time -------------------
    def decide(self, keys: Sequence[tuple[str, str]], clocks: dict[str, float],
               spec: dict[str, Any]) -> dict[str, Any]:
        """Run the policy over ``keys``, each at its tenant's event time in
        ``clocks``, and record each decision in its object's log
        (``actors.deciding``)."""
        from tiering.actors.deciding import decide_round

        return decide_round(self, keys, clocks, spec)

    def ping(self) -> int:
        return self.index

    def close(self) -> None:
        self.app.close()


def shard_actor_class():
    """The Ray actor class, built lazily so importing this module needs no Ray."""
    import ray

    class ShardActor(ShardWorker):
        def __init__(self, *args: Any, **kwargs: Any):
            relax_gc()
            super().__init__(*args, **kwargs)

    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(ShardActor)


def relax_gc() -> None:
    """Collect the young generation every 50,000 allocations instead of 700.

    An ingest batch allocates hundreds of thousands of short-lived objects
    (records, windows, events) next to a cache of up to a million aggregates;
    at the default thresholds the collector runs hundreds of times a batch and
    the older generations keep being rescanned. Measured with bench/ingest.py
    at 100k objects: IBM replay 61k -> 78k accesses/s, Zipf 26k -> 35k. For
    processes that ingest (shard actors, ``tiering launch``), not the library."""
    gc.set_threshold(50_000, 20, 100)
