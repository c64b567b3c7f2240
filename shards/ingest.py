"""Ingest ports: the one path every record takes into the object logs.

REST, trace replay, import-bucket and the synthetic producer all call
``ingest``/``aingest``. ``ShardIngest`` is the one fan-out to shard actors:
a batch is split by owning shard, each part gets a batch id of its own and is
retried with that id under one retry policy, which the objects recognise, so
a retry never counts twice. A batch with a client's idempotency key derives its
parts' ids from that key and goes to every shard, each of which records that it
applied its part (``domain.applied_batch``): the client's own retry, however
late, and of a batch a crash left half applied, applies each part once. With ``materialize`` the shards also put the
bytes the log now names in the object store (deterministic bytes: a retried
part writes the very same content). ``LocalIngest`` does the same split over
in-process shards (the simulator and unit-level tests).
"""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Any, Protocol, Sequence

from tiering.adapters.objectstore import StoreUnavailable, object_name
from tiering.adapters.retrying import aretrying
from tiering.domain.application import IngestResult
from tiering.domain.applied_batch import idempotent_batch_base, request_digest
from tiering.domain.records import AccessRecord, RecordError
from tiering.shards.materialized_bytes import source_key
from tiering.shards.routing import RecordColumns, columns_of, keys_in, partition
from tiering.shards.worker import ShardWorker

# A shard restarting, or the object store away for a moment, heals within this.
RETRY_FOR_S = 30.0
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 4.0
Sources = dict[str, tuple[str, str]]


class IngestPort(Protocol):
    shards: int

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult: ...

    async def aingest(self, records: Sequence[AccessRecord], *,
                      idempotency_key: str | None = None) -> IngestResult: ...


def _sum(results: Sequence[dict[str, Any]]) -> IngestResult:
    total = IngestResult()
    for r in results:
        total.add(IngestResult(**{k: r[k] for k in IngestResult.__dataclass_fields__}))
    return total


def _parts(records: Sequence[AccessRecord], shards: int, idempotency_key: str | None
           ) -> tuple[dict[int, RecordColumns], dict[int, str], str | None]:
    """(each shard's part, its batch id, the request's digest or None).

    One id per shard part; a retried part carries the same id, which is what
    lets the shard drop a part it already recorded. An idempotent batch goes to
    every shard, parts with no record included, so that a key reused for other
    records is refused by every shard, not taken for new on the shards its
    first batch did not reach."""
    parts = partition(records, shards)
    if idempotency_key is None:
        base = uuid.uuid4().hex
        return parts, {i: f"{base}-{i}" for i in parts}, None
    for i in range(shards):
        parts.setdefault(i, columns_of([]))
    base = idempotent_batch_base(idempotency_key)
    return parts, {i: f"{base}-{i}" for i in parts}, request_digest(records)


def _worth_retrying(e: BaseException) -> bool:
    """A shard that died or failed inside (a store timeout), or a store that
    is away; never a record or a rule the shard refused."""
    import ray

    if isinstance(e, (RecordError, ValueError, TypeError)):
        return False
    return isinstance(e, (ray.exceptions.RayError, StoreUnavailable))


class LocalIngest:
    def __init__(self, workers: Sequence[ShardWorker]):
        self.workers = list(workers)
        self.shards = len(self.workers)

    def ingest(self, records: Sequence[AccessRecord], *,
               idempotency_key: str | None = None) -> IngestResult:
        parts, ids, digest = _parts(records, self.shards, idempotency_key)
        return _sum([self.workers[i].ingest(rows, ids[i], digest) for i, rows in parts.items()])

    async def aingest(self, records: Sequence[AccessRecord], *,
                      idempotency_key: str | None = None) -> IngestResult:
        return await asyncio.to_thread(partial(self.ingest, records, idempotency_key=idempotency_key))


class ShardIngest:
    def __init__(self, handles: Sequence[Any], *, materialize: bool = False):
        self.handles = list(handles)
        self.shards = len(self.handles)
        self.materialize = materialize

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        """For callers without an event loop (the producer thread, benches)."""
        return asyncio.run(self.aingest(records))

    async def aingest(self, records: Sequence[AccessRecord], sources: Sources | None = None, *,
                      idempotency_key: str | None = None) -> IngestResult:
        """Every shard's part in parallel; returns once all are committed.
        ``sources`` ("tenant\\0key" -> (bucket, name)) are objects already in
        the store that a materializing ingest copies instead of generating."""
        if self.materialize:
            for i, r in enumerate(records):  # before anything is recorded: all or nothing
                try:
                    object_name(r.tenant, r.key)
                except ValueError as e:
                    raise RecordError("key", str(e).partition(": ")[2], i) from None
        parts, ids, digest = _parts(records, self.shards, idempotency_key)
        return _sum(await asyncio.gather(*(self._send(i, rows, ids[i], sources, digest)
                                           for i, rows in parts.items())))

    async def _send(self, i: int, rows: RecordColumns, batch_id: str,
                    sources: Sources | None, digest: str | None) -> dict[str, Any]:
        async for attempt in aretrying(_worth_retrying, first_s=RETRY_FIRST_S,
                                       max_s=RETRY_MAX_S, deadline_s=RETRY_FOR_S):
            with attempt:
                if not self.materialize:
                    return await self.handles[i].ingest.remote(rows, batch_id, digest)
                mine = None
                if sources is not None:
                    names = {source_key(t, key) for t, key in keys_in(rows)}
                    mine = {k: v for k, v in sources.items() if k in names}
                return await self.handles[i].ingest_materialized.remote(rows, batch_id, mine, digest)
        raise AssertionError("unreachable: the last failure is re-raised")
