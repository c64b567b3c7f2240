"""Ingest adapters: the one path every record takes into the object logs.

REST, trace replay and the synthetic producer all call ``ingest``; the Ray
adapter fans a batch out to shard actors, the local one to in-process shards
(used by the simulator and unit-level tests).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Protocol, Sequence

from tiering.actors.routing import partition
from tiering.actors.shard import ShardWorker
from tiering.adapters.retrying import retrying
from tiering.domain.application import IngestResult
from tiering.domain.records import AccessRecord


class IngestPort(Protocol):
    shards: int

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult: ...

    async def aingest(self, records: Sequence[AccessRecord]) -> IngestResult: ...


def _sum(results: Sequence[dict[str, Any]]) -> IngestResult:
    total = IngestResult()
    for r in results:
        total.add(IngestResult(**r))
    return total


def _batch_ids(parts: dict[int, list]) -> dict[int, str]:
    # One id per shard sub-batch; a retried Ray task carries the same id, which
    # is what lets the aggregate drop a batch it already recorded.
    base = uuid.uuid4().hex
    return {i: f"{base}-{i}" for i in parts}


class LocalIngest:
    def __init__(self, workers: Sequence[ShardWorker]):
        self.workers = list(workers)
        self.shards = len(self.workers)

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        parts = partition(records, self.shards)
        ids = _batch_ids(parts)
        return _sum([self.workers[i].ingest(rows, ids[i]) for i, rows in parts.items()])

    async def aingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        return await asyncio.to_thread(self.ingest, records)


class RayIngest:
    def __init__(self, handles: Sequence[Any]):
        self.handles = list(handles)
        self.shards = len(self.handles)

    ATTEMPTS = 3

    def _submit(self, records: Sequence[AccessRecord]) -> list[Any]:
        parts = partition(records, self.shards)
        ids = _batch_ids(parts)
        return [self.handles[i].ingest.remote(rows, ids[i]) for i, rows in parts.items()]

    def ingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        """Ray retries a call whose actor died; a call that failed inside the
        shard (a store timeout, say) is resubmitted here with the same batch id,
        which the objects recognise, so a retry never counts twice."""
        import ray

        parts = partition(records, self.shards)
        ids = _batch_ids(parts)
        refs = {i: self.handles[i].ingest.remote(rows, ids[i]) for i, rows in parts.items()}
        results = []
        for i, ref in refs.items():  # all shards work in parallel meanwhile
            for attempt in retrying(ray.exceptions.RayTaskError, attempts=self.ATTEMPTS,
                                    first_s=0.5, max_s=2.0):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        ref = self.handles[i].ingest.remote(parts[i], ids[i])
                    results.append(ray.get(ref))
        return _sum(results)

    async def aingest(self, records: Sequence[AccessRecord]) -> IngestResult:
        return _sum(await asyncio.gather(*self._submit(records)))
