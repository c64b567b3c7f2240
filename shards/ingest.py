"""Ingest ports: the one path every record takes into the object logs.

REST, trace replay, import-bucket and the synthetic producer all call
``ingest``/``aingest``. ``ShardIngest`` is the one fan-out to shard actors:
a batch is split by owning shard, each part gets a batch id of its own and is
retried with that id under one retry policy, which the objects recognise, so
a retry never counts twice. A batch with a client's idempotency key derives its
parts' ids from that key and goes to every shard, each of which records that it
applied its part (``domain.applied_batch``): the client's own retry, however
late, and of a batch a crash left half applied, applies each part once. With
``materialize`` the shards also put the bytes the log now names in the object
store (deterministic bytes: a retried part writes the very same content).
``LocalIngest`` does the same split over in-process shards (the simulator and
unit-level tests).
"""

from __future__ import annotations

import asyncio
import contextlib
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


class _Lane:
    """One shard's parts of concurrent requests, sent to it as one call (one
    transaction) once ``wait_s`` has passed since the first or ``max_records``
    are waiting; while a call is out, the next group forms. Each request gets
    its own part's answer, a result or the exception its part alone raised."""

    def __init__(self, handle: Any, wait_s: float, max_records: int):
        self.handle, self.wait_s, self.max_records = handle, wait_s, max_records
        self.waiting: list[tuple[RecordColumns, str, str | None, asyncio.Future]] = []
        self.records = 0
        self._full = asyncio.Event()
        self._sender: asyncio.Task | None = None

    async def submit(self, rows: RecordColumns, batch_id: str, digest: str | None) -> dict[str, Any]:
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting.append((rows, batch_id, digest, answer))
        self.records += len(rows[0])
        if self.records >= self.max_records:
            self._full.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_groups())
        got = await answer
        if isinstance(got, BaseException):
            raise got
        return got

    async def _send_groups(self) -> None:
        while self.waiting:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.wait_s)
            self._full.clear()
            group, self.waiting, self.records = self.waiting, [], 0
            try:
                answers = await self.handle.ingest_parts.remote([(r, b, d) for r, b, d, _ in group])
            except Exception as e:  # noqa: BLE001 - the call failed: every part's answer
                answers = [e] * len(group)
            for (*_, answer), got in zip(group, answers):
                if not answer.done():
                    answer.set_result(got)


class ShardIngest:
    """``coalesce_s`` > 0 puts concurrent requests' parts for one shard into one
    call and one transaction (group commit, ``_Lane``); only ``aingest`` on one
    long-lived event loop (the API's) coalesces."""

    def __init__(self, handles: Sequence[Any], *, materialize: bool = False,
                 coalesce_s: float = 0.0, coalesce_records: int = 5000):
        self.handles = list(handles)
        self.shards = len(self.handles)
        self.materialize = materialize
        self.coalesce_s, self.coalesce_records = coalesce_s, coalesce_records
        self._lanes: dict[int, _Lane] = {}
        self._lanes_loop: asyncio.AbstractEventLoop | None = None

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        """For callers without an event loop (the producer thread, benches)."""
        return asyncio.run(self.aingest(records, coalesce=False))

    async def aingest(self, records: Sequence[AccessRecord], sources: Sources | None = None, *,
                      idempotency_key: str | None = None, coalesce: bool = True) -> IngestResult:
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
        lanes = coalesce and self.coalesce_s > 0 and not self.materialize
        return _sum(await asyncio.gather(*(self._send(i, rows, ids[i], sources, digest, lanes)
                                           for i, rows in parts.items())))

    def _lane(self, i: int) -> _Lane:
        loop = asyncio.get_running_loop()
        if self._lanes_loop is not loop:  # lanes live on the loop that made them
            self._lanes, self._lanes_loop = {}, loop
        if i not in self._lanes:
            self._lanes[i] = _Lane(self.handles[i], self.coalesce_s, self.coalesce_records)
        return self._lanes[i]

    async def _send(self, i: int, rows: RecordColumns, batch_id: str,
                    sources: Sources | None, digest: str | None, lanes: bool = False) -> dict[str, Any]:
        async for attempt in aretrying(_worth_retrying, first_s=RETRY_FIRST_S,
                                       max_s=RETRY_MAX_S, deadline_s=RETRY_FOR_S):
            with attempt:
                if lanes:
                    return await self._lane(i).submit(rows, batch_id, digest)
                if not self.materialize:
                    return await self.handles[i].ingest.remote(rows, batch_id, digest)
                mine = None
                if sources is not None:
                    names = {source_key(t, key) for t, key in keys_in(rows)}
                    mine = {k: v for k, v in sources.items() if k in names}
                return await self.handles[i].ingest_materialized.remote(rows, batch_id, mine, digest)
        raise AssertionError("unreachable: the last failure is re-raised")
