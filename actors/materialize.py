"""The caller's side of ``Placement.ingest_materialized``: an ingest port that
also puts real bytes in the object store (``POST /accesses/materialize``,
``replay-trace --materialize``, ``import-bucket``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tiering.actors.materialized_bytes import source_key
from tiering.actors.routing import RecordColumns, keys_in, partition
from tiering.adapters.objectstore import StoreUnavailable, object_name
from tiering.adapters.retrying import aretrying
from tiering.domain.application import IngestResult
from tiering.domain.records import RecordError


class MaterializingIngest:
    """The ingest port whose batches also put real bytes in the store (shard
    step ``ingest_materialized``). A batch that meets an unavailable store is
    sent again with the same batch ids: the log takes it once, the bytes
    (deterministic) are written again."""

    def __init__(self, handles: list[Any], settings):
        self.handles = list(handles)
        self.shards = len(self.handles)
        self.settings = settings

    async def aingest(self, records, sources: dict[str, tuple[str, str]] | None = None):
        for i, r in enumerate(records):  # before anything is recorded: all or nothing
            try:
                object_name(r.tenant, r.key)
            except ValueError as e:
                raise RecordError("key", str(e).partition(": ")[2], i) from None
        base = uuid.uuid4().hex
        parts = partition(records, self.shards)
        results = await asyncio.gather(*(self._one(i, rows, f"{base}-{i}", sources)
                                         for i, rows in parts.items()))
        total = IngestResult()
        self.last_materialized = sum(r["materialized"] for r in results)
        for r in results:
            total.add(IngestResult(**{k: r[k] for k in IngestResult.__dataclass_fields__}))
        return total

    async def _one(self, i: int, rows: RecordColumns, batch_id: str, sources) -> dict[str, Any]:
        s = self.settings
        mine = None
        if sources is not None:
            names = {source_key(t, key) for t, key in keys_in(rows)}
            mine = {k: v for k, v in sources.items() if k in names}
        async for attempt in aretrying(StoreUnavailable, attempts=s.move_attempts,
                                       first_s=s.move_backoff_s, max_s=s.move_backoff_max_s):
            with attempt:
                return await self.handles[i].placement.remote("ingest_materialized", rows,
                                                              batch_id, mine)
        raise AssertionError("unreachable: the last failure is re-raised")
