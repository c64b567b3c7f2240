"""A shard owns a hash partition of objects and is the only writer of their logs.

``ShardWorker`` is plain Python so the simulator and tests run it in-process;
``actors.shard`` hosts the same class as a restartable Ray actor.
"""

from __future__ import annotations

import gc
import os
from dataclasses import asdict
from typing import Any

from tiering.adapters.eventstore import open_object_logs
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.model import StoredObject
from tiering.ml.live import Observed
from tiering.shards.decision_round import ChosenMove, ObjectGroup, observe_groups, record_decisions
from tiering.shards.existence import existence_probe
from tiering.shards.routing import RecordColumns, to_records
from tiering.shards.steps import ShardStep, StepAnswer
from tiering.shards.store_steps import store_steps_of


def describe_object(obj: StoredObject) -> dict[str, Any]:
    return {
        "object_id": str(obj.id), "tenant": obj.tenant, "key": obj.key,
        "incarnation": obj.incarnation, "tier": obj.tier.value, "size": obj.size,
        "etag": obj.etag, "origin": obj.origin, "registered_at": obj.registered_at,
        "last_access_at": obj.last_access_at, "accesses_total": obj.accesses_total,
        "deleted_at": obj.deleted_at, "move": obj.move, "recommendation": obj.recommendation,
        "version": obj.version, "log_time": obj.log_time,
    }


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

    def ingest(self, rows: RecordColumns, batch_id: str,
               request_digest: str | None = None) -> dict[str, Any]:
        """Returns only after the batch's events are committed (``request_digest``:
        an idempotent batch, ``ObjectLogApplication.ingest``)."""
        return asdict(self.app.ingest(to_records(rows), batch_id, request_digest))

    def ingest_parts(self, parts: list[tuple[RecordColumns, str, str | None]]) -> list[dict[str, Any] | Exception]:
        """Parts of several requests (rows, batch id, request digest) in one transaction
        (group commit); each answer is the part's result, or the exception it alone raised."""
        done = self.app.ingest_many([(to_records(rows), batch_id, digest) for rows, batch_id, digest in parts])
        return [r if isinstance(r, Exception) else asdict(r) for r in done]

    def get_object(self, tenant: str, key: str) -> dict[str, Any] | None:
        obj = self.app.current(tenant, key)
        return None if obj is None else describe_object(obj)

    def history(self, tenant: str, key: str) -> list[dict[str, Any]]:
        return [asdict(h) for h in self.app.history(tenant, key)]

    def stats(self) -> dict[str, Any]:
        import psutil

        cache = self.app.repository.cache
        return {"shard": self.index, "pid": os.getpid(),
                "rss_bytes": psutil.Process().memory_info().rss,
                "cached_objects": len(getattr(cache, "cache", {})) if cache is not None else 0}

    # ----- move steps and answers: typed requests (``shards.steps``) -----
    def run(self, step: ShardStep) -> StepAnswer:
        """Run one step in this shard's serial order, so its log check and any
        object-store write it makes see no other write to the object between."""
        return step.run(store_steps_of(self))

    def run_together(self, steps: list[ShardStep]) -> list[StepAnswer | Exception]:
        """Several steps in one transaction (group commit); each answer is its
        result or the exception it raised. If the commit fails, all raise."""
        return store_steps_of(self).together(steps)

    def ingest_materialized(self, rows: RecordColumns, batch_id: str,
                            sources: dict[str, tuple[str, str]] | None = None,
                            request_digest: str | None = None) -> dict[str, Any]:
        """Ingest, and put the bytes the log now names in the store."""
        return store_steps_of(self).ingest_materialized(rows, batch_id, sources, request_digest)

    def sweep(self, items: list[tuple[str, str, str]]) -> dict[str, int]:
        """Remove each (tenant, key, bucket) copy the log does not name."""
        return store_steps_of(self).sweep(items)

    # ----- decision rounds (``shards.decision_round``) -------------------------------
    def observe(self, groups: list[ObjectGroup], promotions_only: bool) -> list[Observed | None]:
        """What a policy needs of these objects' logs; the policy runs elsewhere."""
        return observe_groups(self.app, groups, promotions_only)

    def record_decisions(self, chosen: list[ChosenMove], policy_id: str,
                         disposition: str) -> dict[str, Any]:
        """Record a round's decisions in their logs, in one commit."""
        return record_decisions(self.app, chosen, policy_id, disposition)

    def instance(self) -> str | None:
        """The deployment this actor serves: a stack adopts only its own."""
        return self.settings.instance_id

    def ping(self) -> int:
        return self.index

    def close(self) -> None:
        self.app.close()


def relax_gc() -> None:
    """Collect the young generation every 50,000 allocations instead of 700.

    An ingest batch allocates hundreds of thousands of short-lived objects
    (records, windows, events) next to a cache of up to a million aggregates;
    at the default thresholds the collector runs hundreds of times a batch and
    the older generations keep being rescanned. Measured with bench/ingest.py
    at 100k objects: IBM replay 61k -> 78k accesses/s, Zipf 26k -> 35k. For
    processes that ingest (shard actors, ``tiering launch``), not the library."""
    gc.set_threshold(50_000, 20, 100)
