"""Per-step usage read out of object logs.

Usage is built from each object's AccessesRecorded, Registered, Overwritten
and Deleted events, exactly as a live shard reads an object's history; the
logs come from the live store (retraining) or from a replay of a trace
(``tiering.simulation.replay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tiering.domain.application import ObjectLogApplication
from tiering.domain.ids import object_id, shard_of
from tiering.ml.usage import Usage


@dataclass
class Replay:
    """Object logs to read usage from: one application per shard."""

    apps: list[ObjectLogApplication]
    keys: list[tuple[str, str]]
    origin: float       # billing time of step 0
    step_s: float       # billing seconds per step
    steps: int
    scale: float        # billing seconds per trace second
    records: int
    events: int


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
    n_shards = len(rp.apps)
    for tenant, key in rp.keys:
        app = rp.apps[shard_of(tenant, key, n_shards)]
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
