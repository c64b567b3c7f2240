"""The moves runtime: object store, decision bus, movers, reconciler, age rule.

``MovesRuntime.prepare`` makes the object store ready before any actor
starts (starting, or joining, an embedded SeaweedFS when no S3 endpoint is
configured) and fills its address into the settings the actors receive;
``start`` runs the movers, the bus, the reconciler (once at start, then
periodically) and the age rule on a loop thread of their own; ``stop`` ends
all of it. ``tiering launch`` does these three; tests and the benchmark too.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import threading
import time
from typing import Any

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import ObjectStore, TierBuckets, open_store
from tiering.config import Settings
from tiering.shards.ingest import ShardIngest
from tiering.shards.steps import RecordContentMismatch, RequestMove

log = logging.getLogger(__name__)


def _join_embedded(data_dir) -> dict[str, str] | None:
    """The S3 address of a SeaweedFS already serving ``data_dir`` (another
    launch on this machine), if it answers with the keys kept there."""
    import psutil

    from tiering.adapters.s3 import S3Store
    try:
        pid = int((data_dir / "weed.pid").read_text())
        ports = json.loads((data_dir / "ports.json").read_text())
        creds = json.loads((data_dir / "credentials.json").read_text())
    except (OSError, ValueError):
        return None
    if not psutil.pid_exists(pid):
        return None
    found = {"s3_endpoint": f"127.0.0.1:{ports['s3']}", "s3_access_key": creds["access_key"],
             "s3_secret_key": creds["secret_key"], "s3_secure": False}
    try:
        S3Store(found["s3_endpoint"], found["s3_access_key"], found["s3_secret_key"]).client.list_buckets()
    except Exception:  # noqa: BLE001 - not serving (or not with these keys): start our own
        return None
    return found


class MovesRuntime:
    def __init__(self, settings: Settings, seaweed=None):
        self.settings = settings
        self.seaweed = seaweed  # ours to stop, if we started it
        self.buckets = TierBuckets.from_settings(settings)
        self.store: ObjectStore = open_store(settings)
        self.store.ensure_buckets(self.buckets.all())
        self.shards: list[Any] = []
        self.movers: list[Any] = []
        self.bus = None
        self.reconciler = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self.age_rule_report: dict[str, Any] = {}
        self.autopilot = None

    @classmethod
    def prepare(cls, settings: Settings) -> "MovesRuntime":
        """Make the object store ready; ``runtime.settings`` then names it."""
        seaweed = None
        if not settings.s3_endpoint:
            from tiering.devstack import SeaweedFS

            data_dir = settings.data_dir / "seaweed"
            found = _join_embedded(data_dir)
            if found is None:
                seaweed = SeaweedFS(data_dir).start()
                # Ours to stop, even if the caller fails before it calls stop().
                atexit.register(seaweed.stop)
                found = {"s3_endpoint": seaweed.endpoint, "s3_access_key": seaweed.access_key,
                         "s3_secret_key": seaweed.secret_key, "s3_secure": False}
            settings = settings.model_copy(update=found)
        return cls(settings, seaweed)

    # ----- starting --------------------------------------------------------------
    def start(self, shard_handles: list[Any], *, shard_names: list[str] | None = None,
              name_prefix: str | None = "", failpoints: list[dict] | None = None,
              periodic: bool = True) -> "MovesRuntime":
        """Movers (named ``{prefix}mover-i`` unless ``name_prefix`` is None),
        the bus, a first reconciliation, then the periodic loops. Shards are
        named actors (``shard-i`` by default, as ``cluster.shard_handles`` names them)."""
        import ray

        from tiering.actors.movers import mover_actor_class

        s = self.settings
        self.shards = list(shard_handles)
        cls, payload = mover_actor_class(), s.model_dump(mode="json")
        kafka = bool(s.kafka_bootstrap)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="movement", daemon=True)
        self._thread.start()
        if kafka:  # topics before consumers, or the broker auto-creates one partition
            from tiering.adapters.bus_kafka import ensure_topics
            self.call(ensure_topics(s.kafka_bootstrap, s.kafka_topic_prefix, s.kafka_partitions, s.kafka_auth))
        from tiering.adapters.ray_spread import spread

        places = spread(s.movers)
        for i in range(s.movers):
            opts: dict[str, Any] = dict(places[i])
            if name_prefix is not None:
                opts.update(name=f"{name_prefix}mover-{i}", get_if_exists=True)
            names = shard_names or [f"shard-{j}" for j in range(len(self.shards))]
            self.movers.append(cls.options(**opts).remote(i, payload, names, consume=kafka,
                                                          failpoints=failpoints))
        if name_prefix is None:
            ray.get([m.ping.remote() for m in self.movers])
        else:  # found by name, so perhaps made by someone else
            from tiering.app.cluster import check_ours
            check_ours(self.movers, s)
        self.bus = self._make_bus()
        self.call(self._begin(periodic))
        return self

    def _make_bus(self):
        s = self.settings
        if s.kafka_bootstrap:
            from tiering.adapters.bus_kafka import KafkaDecisionBus
            return KafkaDecisionBus(s.kafka_bootstrap, s.kafka_topic_prefix, s.kafka_partitions,
                                    auth=s.kafka_auth)
        from tiering.actors.movers import mover_for
        from tiering.adapters.bus_inprocess import InProcessBus

        async def deliver(d: Decision) -> dict[str, Any]:
            return await self.movers[mover_for(d.object_id, len(self.movers))].handle.remote(d.to_dict())
        return InProcessBus(deliver)

    async def _begin(self, periodic: bool) -> None:
        from tiering.actors.reconciler import Reconciler

        self._stop = asyncio.Event()
        await self.bus.start()
        self.reconciler = Reconciler(self.settings, self.shards, self.movers, self.store)
        # Interrupted moves are finished before anything new is decided here (with
        # Kafka, movers may already be taking redelivered decisions: the same
        # moves, resumed from the same log, so the two meet as duplicates).
        report = await self.reconciler.run_once()
        log.info("reconciled on start: %s", report)
        if periodic:
            s = self.settings
            self.loop.create_task(self.reconciler.run_forever(self._stop, s.reconcile_interval_s))
            if s.age_rule:
                self.loop.create_task(self._age_rule_forever())
        if self.settings.autopilot:
            from tiering.actors.autopilot import Autopilot
            from tiering.adapters.model_store import StoredModels
            from tiering.adapters.stack_settings import StoredSetting
            from tiering.domain.stack_settings import AUTOPILOT_MODE
            from tiering.projections.queries import ReadModels

            read_models = ReadModels.from_settings(self.settings)
            store = read_models.policy.setting.app  # the event store the settings are read from
            self.autopilot = Autopilot(self.settings, self.shards, read_models, self.bus.publish,
                                       StoredSetting(store, AUTOPILOT_MODE), StoredModels(store))
            if periodic:
                self.loop.create_task(self.autopilot.run_forever(self._stop))

    async def _age_rule_forever(self) -> None:
        from tiering.projections.queries import ReadModels
        from tiering.services.age_rule import AgeRule, age_rule_decisions

        s = self.settings
        rule, read_models = AgeRule.from_settings(s), ReadModels.from_settings(s)
        while not self._stop.is_set():
            try:
                clocks = await asyncio.to_thread(read_models.tenant_clocks)
                decisions, absent = await asyncio.to_thread(
                    age_rule_decisions, rule, read_models, self.store, self.buckets,
                    s.age_rule_max_moves, clocks)
                if self.autopilot is not None and self.autopilot.mode != "auto":
                    decisions = []  # paused or awaiting approval: the age rule waits too
                for d in decisions:
                    await self.bus.publish(d)
                self.age_rule_report = {"at": time.time(), "decided": len(decisions),
                                        "not_in_store": absent}
            except Exception:  # noqa: BLE001 - the next period tries again
                log.exception("age rule failed")
            try:
                await asyncio.wait_for(self._stop.wait(), s.age_rule_interval_s)
            except asyncio.TimeoutError:
                pass

    # ----- used by the API, tests and the benchmark --------------------------------
    def call(self, coro, timeout: float | None = None) -> Any:
        """Run ``coro`` on the runtime's loop from any other thread and wait."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def acall(self, coro) -> Any:
        """The same, awaited from another event loop (the API's)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def publish(self, decision: Decision) -> None:
        await self.acall(self.bus.publish(decision))

    async def live(self, tenant: str, key: str) -> dict[str, Any] | None:
        """The object's state as its shard holds it: the truth, no projection lag."""
        from tiering.domain.ids import shard_of
        return await self.shards[shard_of(tenant, key, len(self.shards))].get_object.remote(tenant, key)

    async def record_request(self, decision: Decision) -> dict[str, Any]:
        """Record the move as requested now (the mover then resumes it), so
        the caller learns at once whether it was taken."""
        from tiering.domain.ids import shard_of
        shard = self.shards[shard_of(decision.tenant, decision.key, len(self.shards))]
        return await shard.run.remote(RequestMove(decision, decision.decided_at))

    async def report_mismatch(self, tenant: str, key: str, bucket: str, expected: str, found: str) -> None:
        """Record in the object's log that ``bucket`` held other bytes (an incident)."""
        from tiering.domain.ids import shard_of
        shard = self.shards[shard_of(tenant, key, len(self.shards))]
        await shard.run.remote(RecordContentMismatch(tenant, key, bucket, expected, found))

    @property
    def ingest(self):
        """The ingest port that also writes bytes (POST /accesses/materialize)."""
        return ShardIngest(self.shards, materialize=True)

    def reconcile(self) -> dict[str, Any]:
        return self.call(self.reconciler.run_once())

    def health(self) -> dict[str, Any]:
        import ray

        from tiering.adapters.ray_spread import per_node

        alive = ray.get([m.ping.remote() for m in self.movers], timeout=4)
        return {"movers": len(alive), "expected": self.settings.movers, "nodes": per_node(alive),
                "bus": self.bus.describe(),
                "object_store": self.store.endpoint if hasattr(self.store, "endpoint") else None}

    def use_cases(self) -> dict[str, Any]:
        """The API's use cases that need this runtime (``web.deps.Services`` fields)."""
        from tiering.services.autopilot import AutopilotControls
        from tiering.services.moves import Moves

        return {"moves": Moves(self, self.store, self.buckets, self.publish, self.ingest),
                "autopilot": AutopilotControls(self.autopilot, self.acall) if self.autopilot else None,
                "materializing": self.ingest}

    # ----- stopping ----------------------------------------------------------------
    def stop(self) -> None:
        import ray

        if self.loop is not None and self.loop.is_running():
            async def end() -> None:
                if self._stop is not None:
                    self._stop.set()
                if self.bus is not None:
                    await self.bus.stop()
            try:
                self.call(end(), timeout=60)
            except Exception:  # noqa: BLE001 - shutting down regardless
                log.exception("stopping the decision bus failed")
        for m in self.movers:
            try:
                ray.get(m.stop.remote(), timeout=90)
            except Exception:  # noqa: BLE001 - a dead mover is stopped enough
                pass
            ray.kill(m, no_restart=True)
        self.movers = []
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop = None
        if self.reconciler is not None:
            self.reconciler.close()
        if self.autopilot is not None:
            self.autopilot.close()
        if self.seaweed is not None:
            self.seaweed.stop()
            self.seaweed = None

