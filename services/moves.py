"""Operator moves, an object's bytes and location, and importing a bucket.

Answers come from the owning shard's live state, not from the read model, so
a move just requested is seen at once (409) and content is found mid-move.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Protocol

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import ObjectMissing, StoreError, TierBuckets, object_name, parse_object_name
from tiering.domain.records import AccessRecord, RecordError, parse_record
from tiering.domain.tiers import Tier
from tiering.services.content_check import checked, md5_checksum, unchecked
from tiering.services.errors import Conflict, NotFound, Unavailable, invalid, public_message


class LiveObjects(Protocol):
    """The shards, as the move use cases see them."""

    async def live(self, tenant: str, key: str) -> dict[str, Any] | None: ...

    async def record_request(self, decision: Decision) -> dict[str, Any]: ...

    async def report_mismatch(self, tenant: str, key: str, bucket: str, expected: str, found: str) -> None: ...


class ObjectBytes(Protocol):
    def read(self, bucket: str, name: str) -> Iterator[bytes]: ...

    def listing(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[tuple[str, Any]]: ...


class MaterializingPort(Protocol):
    async def aingest(self, records: list[AccessRecord], sources: dict[str, tuple[str, str]] | None = None): ...


class Moves:
    def __init__(self, objects: LiveObjects, store: ObjectBytes, buckets: TierBuckets,
                 publish: Callable[[Decision], Awaitable[None]], materializing: MaterializingPort):
        self.objects = objects
        self.store = store
        self.buckets = buckets
        self.publish = publish
        self.materializing = materializing

    async def request(self, tenant: str, key: str, target: str, reason: str | None,
                      by: str | None = None) -> dict[str, Any]:
        """Record an operator's move (``by``: who, kept in the object's log),
        then hand it to the movers."""
        state = await self.objects.live(tenant, key)
        # Decided at the object's newest event time; the owning shard stamps the
        # request at its tenant's now, which is never earlier.
        decision = operator_decision(state, tenant, key, target, reason, state["log_time"] if state else 0.0, by)
        # Recorded before it is published: an answer means the log has the move,
        # and a second request sees it (409). Should publishing fail, the
        # reconciler finds the requested move in the log and drives it.
        recorded = await self.objects.record_request(decision)
        if recorded["outcome"] == "unknown":
            raise NotFound(f"unknown object {tenant}/{key}")
        if recorded["outcome"] != "requested":
            raise Conflict(recorded["reason"] or recorded["outcome"])
        try:
            await self.publish(decision)
        except Exception as e:  # noqa: BLE001 - the reconciler will drive it
            raise Unavailable(f"move {decision.move_id} is recorded but the decision bus did not "
                              f"take it ({public_message(e)}); the reconciler will carry it out") from None
        return {"move_id": decision.move_id, "tenant": tenant, "key": key, "source": decision.source,
                "target": decision.target, "status": "requested",
                "target_bucket": self.buckets.of(decision.target)}

    async def location(self, tenant: str, key: str) -> dict[str, Any]:
        state = await self.objects.live(tenant, key)
        if state is None:
            raise NotFound(f"unknown object {tenant}/{key}")
        return {"tenant": tenant, "key": key, "tier": state["tier"], "bucket": self.buckets.of(state["tier"]),
                "move": state["move"], "deleted": state["deleted_at"] is not None, "version": state["version"]}

    async def content(self, tenant: str, key: str) -> tuple[dict[str, Any], str, AsyncIterator[bytes]]:
        """(state, bucket, chunks) from the bucket the live state names, else
        the move's other side: mid-move the bytes are in one or both. The
        chunks are checked against the checksum in the log (``content_check``)."""
        state = await self.objects.live(tenant, key)
        if state is None or state["deleted_at"] is not None:
            raise NotFound(f"no content for {tenant}/{key}")
        buckets = [self.buckets.of(state["tier"])]
        move = state["move"]
        if move is not None:
            buckets.append(self.buckets.of(move["target"] if move["source"] == state["tier"] else move["source"]))
        name = object_name(tenant, key)
        for bucket in buckets:
            chunks = self.store.read(bucket, name)
            try:  # the first chunk proves the object is there (a reclaim may race us)
                first = await asyncio.to_thread(next, chunks, b"")
            except ObjectMissing:
                continue
            chunks = _prepend(first, chunks)
            expected = md5_checksum(state.get("etag"))
            if expected is None:
                return state, bucket, unchecked(chunks)

            async def report(found: str, bucket: str = bucket) -> None:
                await self.objects.report_mismatch(tenant, key, bucket, expected, found)
            return state, bucket, await checked(chunks, expected, report)
        raise NotFound(f"no content for {tenant}/{key}")

    async def import_page(self, bucket: str, tenant: str, prefix: str, start_after: str | None,
                          limit: int) -> dict[str, Any]:
        """Register up to ``limit`` objects already in ``bucket`` (a PUT at
        their last-modified time and real size), their bytes placed in the tier
        the log names by a server-side copy. Our own names keep their tenant."""
        try:
            page = await asyncio.to_thread(self._list_page, bucket, tenant, prefix, start_after, limit)
        except StoreError as e:  # most often: no such bucket, or no access
            raise invalid("bucket", str(e)) from None
        records, sources, skipped, more, last = page
        result = await self.materializing.aingest(records, sources) if records else None
        return {"imported": len(records), "events": result.events if result else 0,
                "skipped": skipped, "next": last if more else None}

    def _list_page(self, bucket: str, tenant: str, prefix: str, start_after: str | None, limit: int):
        from tiering.shards.materialized_bytes import source_key

        records, sources, skipped, seen, last = [], {}, [], 0, None
        for name, info in self.store.listing(bucket, prefix, start_after):
            last, seen = name, seen + 1
            ours = parse_object_name(name) if bucket in self.buckets.all() else None
            t, k = ours or (tenant, name)
            try:
                r = parse_record({"ts": info.modified or time.time(), "tenant": t, "key": k,
                                  "op": "PUT", "size": info.size})
                object_name(r.tenant, r.key)
            except (RecordError, ValueError) as e:
                skipped.append({"name": name, "reason": str(e)})
            else:
                records.append(r)
                sources[source_key(t, k)] = (bucket, name)
            if seen >= limit:
                break
        return records, sources, skipped, seen >= limit, last


def operator_decision(state: dict[str, Any] | None, tenant: str, key: str, target: str,
                      reason: str | None, at: float, by: str | None = None) -> Decision:
    """An operator's move on the live state (from the owning shard, not a read model)."""
    try:
        tier = Tier.parse(target)
    except ValueError as e:
        raise invalid("target", str(e)) from None
    if state is None or state["deleted_at"] is not None:
        raise NotFound(f"unknown object {tenant}/{key}")
    if state["move"] is not None:
        move = state["move"]
        raise Conflict(f"move {move['move_id']} to {move['target']} is in flight (step {move['step']})")
    if state["tier"] == tier.value:
        raise Conflict(f"{tenant}/{key} is already in {tier.value}")
    return Decision.for_object(state, tier, reason or "operator request", "operator", at, by)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest
