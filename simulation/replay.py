"""A trace replayed through the live ingest path into in-memory object logs.

The replay uses ``LocalIngest`` over in-process ``ShardWorker``s, i.e. the
same fold/aggregate/event code the live system runs; only the event store is
the in-memory one. ``tiering.ml.history.usage_from_logs`` then reads usage out
of the logs it recorded.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Iterable

from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import DAY_S, stretch
from tiering.domain.records import AccessRecord
from tiering.ml.history import Replay
from tiering.shards.ingest import LocalIngest
from tiering.shards.worker import ShardWorker


def memory_workers(n: int) -> list[ShardWorker]:
    """ShardWorkers over the in-memory event store (no settings, no files)."""
    settings = Settings()
    return [ShardWorker(i, settings, app=ObjectLogApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"})) for i in range(n)]


def replay(records: Iterable[AccessRecord], scale: float, step_s: float = DAY_S, shards: int = 2,
           progress: Callable[[int, int], None] | None = None) -> Replay:
    """Stretch event time by ``scale`` and ingest one batch per step."""
    recs = sorted(records, key=lambda r: r.ts)
    if not recs:
        raise ValueError("the trace has no good records")
    t_start = recs[0].ts
    steps = max(1, int(math.floor((recs[-1].ts - t_start) * scale / step_s)) + 1)
    ingest = LocalIngest(memory_workers(shards))
    batch: list[AccessRecord] = []
    current, events = 0, 0
    keys: dict[tuple[str, str], None] = {}
    for r in recs:
        bts = stretch(r.ts, t_start, scale)
        s = min(steps - 1, int((bts - t_start) // step_s))
        if s != current and batch:
            events += ingest.ingest(batch).events
            if progress:
                progress(current + 1, steps)
            batch = []
        current = s
        keys.setdefault((r.tenant, r.key))
        batch.append(replace(r, ts=bts))
    if batch:
        events += ingest.ingest(batch).events
    if progress:
        progress(steps, steps)
    return Replay([w.app for w in ingest.workers], list(keys), t_start, step_s, steps, scale,
                  len(recs), events)
