"""Shared pieces of the move tests: real SeaweedFS, real Kafka, real Ray.

The services themselves are session fixtures in ``conftest.py`` (``seaweed``,
``kafka``, ``stack``). Each test gets its own buckets, topics, consumer group
and event store, so tests do not see each other's objects or decisions.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from tiering.actors.shard import shard_actor_class
from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import object_name
from tiering.app.cluster import open_instance
from tiering.app.moves_runtime import MovesRuntime
from tiering.config import Settings
from tiering.domain.ids import shard_of
from tiering.domain.records import AccessRecord, Op


def api_client(stack):
    from fastapi.testclient import TestClient

    from tests.support.api import authorized
    from tiering.shards.ingest import ShardIngest
    from tiering.web.app import create_app
    from tiering.web.deps import Services

    services = Services(settings=stack.settings, ingest_port=ShardIngest(stack.shards),
                        **stack.runtime.use_cases())
    return authorized(TestClient(create_app(services)))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class MoveStack:
    """Shards, movers, bus and reconciler over one test's buckets and log."""

    def __init__(self, tmp_path, seaweed, kafka=None, *, shards: int = 2, movers: int = 2,
                 failpoints: list[dict] | None = None, periodic: bool = False,
                 **overrides: Any):
        tag = uuid.uuid4().hex[:8]
        values = dict(
            data_dir=tmp_path / "var", shards=shards, movers=movers,
            s3_endpoint=seaweed.endpoint, s3_access_key=seaweed.access_key,
            s3_secret_key=seaweed.secret_key, bucket_hot=f"hot-{tag}",
            bucket_warm=f"warm-{tag}", bucket_cold=f"cold-{tag}",
            kafka_bootstrap=kafka.bootstrap if kafka else None, kafka_topic_prefix=f"t{tag}.",
            kafka_partitions=4, age_rule=False, move_backoff_s=0.2, move_backoff_max_s=4.0)
        self.settings = Settings(**{**values, **overrides})
        payload = self.settings.model_dump(mode="json")
        cls = shard_actor_class()
        names = [f"{tag}-shard-{i}" for i in range(shards)]
        open_instance(self.settings)
        self.shards = [cls.options(name=n).remote(i, payload, create_tables=False)
                       for i, n in enumerate(names)]
        self.runtime = MovesRuntime(self.settings).start(
            self.shards, shard_names=names, name_prefix=None, failpoints=failpoints,
            periodic=periodic)
        self.store, self.buckets = self.runtime.store, self.runtime.buckets

    # ----- driving ---------------------------------------------------------------
    def put(self, sizes: dict[str, int], ts: float = 1_000.0, tenant: str = "acme") -> None:
        records = [AccessRecord(ts, tenant, k, Op.PUT, n) for k, n in sizes.items()]
        self.runtime.call(self.runtime.ingest.aingest(records))

    def state(self, key: str, tenant: str = "acme") -> dict[str, Any] | None:
        import ray

        return ray.get(self.shards[shard_of(tenant, key, len(self.shards))].get_object.remote(tenant, key))

    def history(self, key: str, tenant: str = "acme") -> list[dict[str, Any]]:
        import ray

        return ray.get(self.shards[shard_of(tenant, key, len(self.shards))].history.remote(tenant, key))

    def decide(self, key: str, target: str, tenant: str = "acme") -> Decision:
        state = self.state(key, tenant)  # decided at the object's newest event time
        d = Decision.for_object(state, target, "test", "test", state["log_time"])
        self.runtime.call(self.runtime.bus.publish(d))
        return d

    def wait_settled(self, keys, timeout: float = 120, tenant: str = "acme",
                     moved: dict[str, str] | None = None) -> dict[str, dict]:
        """Until no key has a move in flight (and, with ``moved``, each is in its tier)."""
        deadline = time.monotonic() + timeout
        while True:
            states = {k: self.state(k, tenant) for k in keys}
            busy = [k for k, s in states.items() if s["move"] is not None
                    or (moved and s["tier"] != moved[k])]
            if not busy:
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(busy)} objects still moving, e.g. {states[busy[0]]}")
            time.sleep(0.3)

    # ----- checking ----------------------------------------------------------------
    def where(self, key: str, tenant: str = "acme") -> dict[str, str]:
        """bucket -> etag for every tier bucket holding the object."""
        name = object_name(tenant, key)
        found = {b: self.store.stat(b, name) for b in self.buckets.all()}
        return {b: i.etag for b, i in found.items() if i is not None}

    def content(self, key: str, tenant: str = "acme") -> bytes:
        state = self.state(key, tenant)
        return b"".join(self.store.read(self.buckets.of(state["tier"]), object_name(tenant, key)))

    def assert_consistent(self, etags: dict[str, str], tenant: str = "acme") -> None:
        """Each object: one copy, in the bucket its log names, with the content
        it had; its log has no move open and every move it began has ended."""
        for key, etag in etags.items():
            state = self.state(key, tenant)
            assert state["move"] is None, (key, state["move"])
            assert self.where(key, tenant) == {self.buckets.of(state["tier"]): etag}, key
            kinds = [e["kind"] for e in self.history(key, tenant)]
            assert kinds.count("MoveRequested") == (kinds.count("MoveSourceReclaimed")
                                                    + kinds.count("MoveAborted")
                                                    + kinds.count("MoveFailed")), (key, kinds)

    def close(self) -> None:
        import ray

        self.runtime.stop()
        for h in self.shards:
            ray.kill(h, no_restart=True)
        drop_buckets(self.store, self.buckets.all())


def drop_buckets(store, buckets) -> None:
    """Empty and delete a test's buckets: SeaweedFS gives every bucket volumes of
    its own, and a session's worth of leftover buckets runs out of them."""
    client = store.client
    for bucket in buckets:
        try:
            names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
            if names:
                store.remove_many(bucket, names)
            client.remove_bucket(bucket)
        except Exception:  # noqa: BLE001 - cleanup only; a failure here is not the test's
            pass
