"""Object-store steps that run inside the shard that owns the object.

A shard actor runs one call at a time and is the only writer of its objects'
logs, so a step run here checks the log and touches the store with no other
write to those objects in between. That is what makes these safe:

- writing an overwrite's bytes to the tier the log names (a move cannot
  commit between the check and the write, and a pre-commit move is aborted:
  its copy would be stale);
- deleting a move's source only while the log says that very move committed
  (a late duplicate cannot delete a later move's bytes);
- removing a copy only if the log names neither it nor a move towards it.

The shard's typed requests (``shards.steps``) run here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tiering.adapters.objectstore import ObjectStore, StoreUnavailable, TierBuckets, object_name, open_store
from tiering.domain.application import UnitOfWork
from tiering.domain.model import StoredObject
from tiering.domain.records import Op
from tiering.domain.tiers import Tier
from tiering.domain.vocabulary import PRE_COMMIT
from tiering.shards.materialized_bytes import run_all, source_key, synthetic_content
from tiering.shards.routing import RecordColumns, to_records
from tiering.shards.steps import ReclaimSource, ShardStep


class StoreSteps:
    """Bound to one shard worker; its store client is made on first use."""

    def __init__(self, worker):
        self.worker = worker
        self.app = worker.app
        self.settings = worker.settings
        self.buckets = TierBuckets.from_settings(self.settings)
        self._store: ObjectStore | None = None
        self._batch: UnitOfWork | None = None  # the batch's objects, saved at its end
        self._removed: set[tuple[str, str]] = set()  # sources a batch has already deleted

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            store = open_store(self.settings)
            store.ensure_buckets(self.buckets.all())
            self._store = store
        return self._store

    def _state(self, tenant: str, key: str) -> dict[str, Any] | None:
        return self.worker.get_object(tenant, key)

    def _command(self, tenant: str, key: str, action) -> Any:
        """One aggregate command; saved at once, or with the rest of the batch."""
        if self._batch is None:
            return self.app.command(tenant, key, action)
        obj = self.app.current(tenant, key)
        if obj is None:
            raise KeyError(f"{tenant}/{key}")
        return action(self._batch.touch(obj))

    def record(self, tenant: str, key: str, at: float | None, action) -> dict[str, Any]:
        """One aggregate command, ``action(obj, at)`` with ``at`` raised to the
        tenant's now: ``{"changed": bool, "object": state}``. A rule violation
        raises the domain's DomainRuleError, an unknown key KeyError."""
        at = self.app.tenant_now(tenant, at)
        outcome = self._command(tenant, key, lambda obj: action(obj, at))
        return {"changed": outcome is not False, "object": self._state(tenant, key)}

    def together(self, steps: "list[ShardStep]") -> list[Any]:
        """Group commit: several steps (of different objects) in one call and one
        transaction. Each step's answer is its result or the exception it raised;
        if the transaction fails, the whole call raises and nothing was recorded."""
        if self._batch is not None:
            raise RuntimeError("groups of steps do not nest")
        results: list[Any] = []
        try:
            with self.app.unit_of_work() as self._batch:
                self._remove_sources_together(steps)
                for step in steps:
                    try:
                        results.append(step.run(self))
                    except Exception as e:  # noqa: BLE001 - the caller re-raises it
                        results.append(e)
            return results
        finally:
            self._batch, self._removed = None, set()

    def _remove_sources_together(self, steps: "list[ShardStep]") -> None:
        """The group's reclaims delete their sources in one request per bucket;
        ``reclaim`` then skips what is gone. Only sources of moves the log has
        committed are deleted here, exactly as ``reclaim`` would."""
        by_bucket: dict[str, list[str]] = {}
        for step in steps:
            if not isinstance(step, ReclaimSource):
                continue
            tenant, key, move_id = step.tenant, step.key, step.move_id
            obj = self.app.current(tenant, key)
            move = None if obj is None or obj.is_deleted else obj.move
            if move and move["move_id"] == move_id and move["step"] == "committed":
                by_bucket.setdefault(self.buckets.of(move["source"]), []).append(
                    object_name(tenant, key))
        for bucket, names in by_bucket.items():
            try:
                self.store.remove_many(bucket, names)
            except StoreUnavailable:
                continue  # each reclaim tries on its own and reports its error
            self._removed.update((bucket, n) for n in names)

    def named_buckets(self, obj: StoredObject) -> set[str]:
        """Where the log says this object's bytes belong: its tier, and the
        target of a move that has not committed yet."""
        if obj.is_deleted:
            return set()
        named = {self.buckets.of(obj.tier)}
        if obj.move is not None and obj.move["step"] in PRE_COMMIT:
            named.add(self.buckets.of(obj.move["target"]))
        return named

    # ----- ingest with real bytes -------------------------------------------
    def ingest_materialized(self, rows: RecordColumns, batch_id: str,
                            sources: dict[str, tuple[str, str]] | None = None,
                            request_digest: str | None = None) -> dict[str, Any]:
        """Record the batch, then make the store hold what the log now says:
        content for every PUT and every new registration, nothing for deleted
        objects. Content is ``min(size, cap)`` generated bytes, or, for a key in
        ``sources`` ("tenant\\0key" -> (bucket, name)), a server-side copy of an
        object already in the store (import-bucket). A retried idempotent batch
        records nothing again but still writes: the bytes may be what its first
        attempt did not get to."""
        result = self.worker.ingest(rows, batch_id, request_digest)
        plans: dict[tuple[str, str], _Plan] = {}
        for r in to_records(rows):
            p = plans.setdefault((r.tenant, r.key), _Plan())
            p.times.add(r.ts)
            if r.op is Op.PUT:
                p.last_put_ts = r.ts if p.last_put_ts is None else max(p.last_put_ts, r.ts)
            elif r.op is Op.DELETE:
                p.deleted = True
        written = bytes_written = 0
        writes, written_for = [], []
        for (tenant, key), p in plans.items():
            obj = self.app.current(tenant, key)
            if obj is None:
                continue
            name = object_name(tenant, key)
            if obj.is_deleted or p.deleted:  # an earlier incarnation's bytes may be anywhere
                for bucket in set(self.buckets.all()) - self.named_buckets(obj):
                    self.store.remove(bucket, name)
            if obj.is_deleted:
                continue
            if p.last_put_ts is not None:
                seed_ts = p.last_put_ts
            elif obj.origin == "observed" and obj.registered_at in p.times:
                seed_ts = obj.registered_at  # registered by this batch: it pre-existed
            else:
                continue
            if obj.move is not None and obj.move["step"] in PRE_COMMIT:
                self.end(tenant, key, obj.move["move_id"], obj.move["target"], "abort",
                         f"concurrent overwrite at ts={seed_ts}: the copy no longer matches", 0,
                         seed_ts)
            bucket = self.buckets.of(obj.tier)
            source = (sources or {}).get(source_key(tenant, key))
            if source is not None:
                if tuple(source) != (bucket, name):
                    writes.append(partial(self._copy_in, source[0], source[1], bucket, name))
                else:
                    writes.append(partial(self._etag_of, bucket, name))
                written_for.append((tenant, key, seed_ts))
                written += 1
                bytes_written += obj.size
                continue
            # Made in the writer thread: a batch's bytes (up to 8 MiB each) never all sit in memory.
            length = min(obj.size, self.settings.materialize_cap_bytes)
            seed = f"{tenant}\0{key}\0{obj.incarnation}\0{seed_ts}\0{obj.size}"
            writes.append(partial(self._put_synthetic, bucket, name, seed, length))
            written_for.append((tenant, key, seed_ts))
            written += 1
            bytes_written += length
        self._record_content(written_for, run_all(writes))
        return {**result, "materialized": written, "materialized_bytes": bytes_written}

    def _put_synthetic(self, bucket: str, name: str, seed: str, length: int) -> str:
        return self.store.put(bucket, name, synthetic_content(seed, length)).etag

    def _copy_in(self, src_bucket: str, src_name: str, bucket: str, name: str) -> str:
        return self.store.copy(src_bucket, src_name, bucket, dst_name=name)

    def _etag_of(self, bucket: str, name: str) -> str | None:
        info = self.store.stat(bucket, name)
        return info.etag if info is not None else None

    def _record_content(self, written_for: list[tuple[str, str, float]], etags: list[str | None]) -> None:
        """Name in each log the checksum of the bytes just written, in one
        commit: ``GET .../content`` serves only bytes that match it."""
        with self.app.unit_of_work() as uow:
            for (tenant, key, at), etag in zip(written_for, etags):
                obj = self.app.current(tenant, key)
                if etag and obj is not None and not obj.is_deleted:
                    uow.touch(obj).record_content(etag, self.app.tenant_now(tenant, at))

    # ----- the move's log steps that need the store in the same breath --------
    def request(self, d: dict[str, Any], at: float | None = None) -> dict[str, Any]:
        """Record a decision's move once. Outcomes: requested, resume (this move
        is in flight), busy (another is), duplicate (this move id was requested
        since the decision and has ended), stale (the object changed), unknown.
        ``at``, like every ``at`` here, is the caller's idea of the tenant's
        event time (the decision's, by default); the shard raises it to its own."""
        at = self.app.tenant_now(d["tenant"], d["decided_at"] if at is None else at)
        obj = self.app.current(d["tenant"], d["key"])
        if obj is None:
            return {"outcome": "unknown", "object": None}
        if str(obj.id) != d["object_id"] or obj.is_deleted:
            return self._out("stale", obj, "the object was deleted or recreated since the decision")
        if obj.move is not None:
            if obj.move["move_id"] == d["move_id"]:
                return self._out("resume", obj)
            return self._out("busy", obj, f"move {obj.move['move_id']} is in flight")
        if obj.version > d["basis_version"] and self._requested_since(obj, d):
            return self._out("duplicate", obj, "this move was already requested and has ended")
        if obj.tier.value != d["source"]:
            return self._out("stale", obj, f"the object is in {obj.tier.value}, not {d['source']}")
        self._command(d["tenant"], d["key"], lambda o: o.request_move(
            d["move_id"], Tier(d["target"]), d["reason"], at, d.get("requested_by")))
        return self._out("requested", obj)

    def _requested_since(self, obj: StoredObject, d: dict[str, Any]) -> bool:
        # Only the events after the decision's basis are read: a handful, not the log.
        return any(type(e).__name__ == "MoveRequested" and e.move_id == d["move_id"]
                   for e in self.app.events.get(obj.id, gt=d["basis_version"]))

    def reclaim(self, tenant: str, key: str, move_id: str,
                at: float | None = None) -> dict[str, Any]:
        """Delete the source and record it, only while this move is committed."""
        at = self.app.tenant_now(tenant, at)
        obj = self.app.current(tenant, key)
        if obj is None or obj.is_deleted:
            return self._out("gone", obj)
        move = obj.move
        if move is None or move["move_id"] != move_id:
            return self._out("not_in_flight", obj)
        if move["step"] != "committed":
            return self._out("not_committed", obj)
        source = (self.buckets.of(move["source"]), object_name(tenant, key))
        if source not in self._removed:
            self.store.remove(*source)
        self._command(tenant, key, lambda o: o.record_source_reclaimed(move_id, at))
        return self._out("reclaimed", obj)

    def end(self, tenant: str, key: str, move_id: str, target: str, how: str, reason: str,
            attempts: int, at: float | None = None) -> dict[str, Any]:
        """Abort or fail a move that has not committed, then remove its target
        copy unless the log names it; the record comes first, so a crash
        between leaves an orphan for the sweep, never a lost object."""
        at = self.app.tenant_now(tenant, at)
        obj = self.app.current(tenant, key)
        outcome = "not_in_flight"
        if obj is not None and not obj.is_deleted and obj.move and obj.move["move_id"] == move_id:
            if obj.move["step"] not in PRE_COMMIT:
                return self._out("committed", obj, "the move committed; it can only be finished")
            if how == "fail":
                self._command(tenant, key, lambda o: o.fail_move(move_id, reason, attempts, at))
            else:
                self._command(tenant, key, lambda o: o.abort_move(move_id, reason, at))
            outcome = "failed" if how == "fail" else "aborted"
        try:
            self.discard(tenant, key, self.buckets.of(target))
        except StoreUnavailable:
            pass  # the record stands; the reconciler's sweep removes the copy later
        return self._out(outcome, obj, reason)

    # ----- orphans -------------------------------------------------------------
    def discard(self, tenant: str, key: str, bucket: str) -> str:
        """Remove ``bucket``'s copy unless the log names it. Unregistered names
        are left alone: they are not ours (yet: see import-bucket)."""
        obj = self.app.current(tenant, key)
        if obj is None:
            return "unregistered"
        if bucket in self.named_buckets(obj):
            return "kept"
        self.store.remove(bucket, object_name(tenant, key))
        return "removed"

    def sweep(self, items: list[tuple[str, str, str]]) -> dict[str, int]:
        counts = {"kept": 0, "removed": 0, "unregistered": 0}
        for tenant, key, bucket in items:
            counts[self.discard(tenant, key, bucket)] += 1
        return counts

    def _out(self, outcome: str, obj: StoredObject | None, reason: str | None = None) -> dict:
        state = None if obj is None else self._state(obj.tenant, obj.key)
        return {"outcome": outcome, "reason": reason, "object": state}


@dataclass
class _Plan:
    times: set = field(default_factory=set)
    last_put_ts: float | None = None
    deleted: bool = False


def store_steps_of(worker) -> StoreSteps:
    steps = worker.__dict__.get("_store_steps")
    if steps is None:
        steps = worker.__dict__["_store_steps"] = StoreSteps(worker)
    return steps
