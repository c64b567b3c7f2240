"""From a trace to object logs and back: replay through the live ingest path,
then read per-step usage out of the recorded events.

The replay uses ``LocalIngest`` over in-process ``ShardWorker``s, i.e. the same
fold/aggregate/event code the live system runs; only the event store is the
in-memory one. Usage is then built from each object's AccessesRecorded,
Registered, Overwritten and Deleted events, exactly as a live shard would
read an object's history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

import numpy as np

from tiering.actors.ingest import LocalIngest
from tiering.actors.shard import ShardWorker
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import DAY_S, stretch
from tiering.domain.ids import object_id, shard_of
from tiering.domain.records import AccessRecord
from tiering.ml.usage import Usage
from tiering.app.settings import Settings



def memory_workers(n: int) -> list[ShardWorker]:
    """ShardWorkers over the in-memory event store (no settings, no files)."""
    settings = Settings()
    return [ShardWorker(i, settings, app=ObjectLogApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"})) for i in range(n)]


@dataclass
class Replay:
    workers: list[ShardWorker]
    keys: list[tuple[str, str]]
    origin: float       # billing time of step 0
    step_s: float       # billing seconds per step
    steps: int
    scale: float        # billing seconds per trace second
    records: int
    events: int


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
    return Replay(ingest.workers, list(keys), t_start, step_s, steps, scale, len(recs), events)


@dataclass
class ObjectRef:
    tenant: str
    key: str
    incarnation: int


def usage_from_logs(rp: Replay, min_size: int = 0) -> tuple[Usage, list[ObjectRef], np.ndarray]:
    """Per-step usage of every incarnation of every key, read from the logs.

    Returns (usage, objects, reads (N, T) GET counts). ``min_size`` raises each
    object's size (block traces: an object is ``lbn_grain`` blocks).
    """
    rows: list[dict] = []
    refs: list[ObjectRef] = []
    n_shards = len(rp.workers)
    for tenant, key in rp.keys:
        app = rp.workers[shard_of(tenant, key, n_shards)].app
        inc = 0
        while True:
            evs = list(app.events.get(object_id(tenant, key, inc)))
            if not evs:
                break
            rows.append(_fold_events(evs, rp))
            refs.append(ObjectRef(tenant, key, inc))
            inc += 1
    n, t = len(rows), rp.steps
    arr = {f: np.zeros((n, t)) for f in ("gets", "get_bytes", "puts", "reads", "lat_sum", "lat_n")}
    size, birth, death = np.zeros(n), np.zeros(n, dtype=int), np.full(n, t, dtype=int)
    for i, row in enumerate(rows):
        for s, vals in row["steps"].items():
            for f, v in vals.items():
                arr[f][i, s] += v
        size[i], birth[i], death[i] = max(row["size"], min_size), row["birth"], row["death"]
    u = Usage(arr["gets"], arr["get_bytes"], arr["puts"], size, birth, death, rp.step_s,
              arr["lat_sum"], arr["lat_n"])
    return u, refs, arr["reads"]


def window_requests(counts: dict) -> tuple[int, int]:
    """(GET-class, PUT-class) requests of an access window, as they are billed:
    a HEAD at the GET price, a COPY at the PUT price."""
    return counts.get("GET", 0) + counts.get("HEAD", 0), counts.get("PUT", 0) + counts.get("COPY", 0)


def _fold_events(evs: Sequence, rp: Replay) -> dict:
    step = lambda at: min(rp.steps - 1, max(0, int((at - rp.origin) // rp.step_s)))  # noqa: E731
    out: dict = {"steps": {}, "size": 0, "birth": 0, "death": rp.steps}
    for e in evs:
        kind = type(e).__name__
        if kind == "Registered":
            out["birth"], out["size"] = step(e.at), e.size
        elif kind == "Overwritten":
            out["size"] = max(out["size"], e.size)
        elif kind == "Deleted":
            out["death"] = step(e.at) + 1
        elif kind == "AccessesRecorded":
            c = e.counts
            vals = out["steps"].setdefault(step(e.first_ts), {})
            add = lambda f, v: vals.__setitem__(f, vals.get(f, 0) + v)  # noqa: E731
            gets, puts = window_requests(c)
            add("gets", gets)
            add("reads", c.get("GET", 0))
            add("puts", puts)
            add("get_bytes", e.bytes_read)
            add("lat_sum", e.latency_sum_ms)
            add("lat_n", e.latency_n)
    return out
