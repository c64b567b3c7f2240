"""Folding a batch of accesses into one window per object.

An object's accesses within one ingest batch become one event. A DELETE closes
the object's current incarnation, and a PUT after it opens the next one, so a
batch can hold several segments for the same key; they keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tiering.domain.records import OP_NAME, AccessRecord, Op


@dataclass(slots=True)
class AccessWindow:
    first_ts: float
    last_ts: float
    counts: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    bytes_written: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    latency_n: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(slots=True)
class Segment:
    """Accesses to one incarnation of one key, in one batch."""

    tenant: str
    key: str
    window: AccessWindow
    starts_with_put: bool
    max_size_seen: int | None = None
    puts: int = 0
    last_put_size: int | None = None
    last_put_ts: float | None = None
    deleted_at: float | None = None
    ignored: int = 0  # accesses after the DELETE that no PUT revived

    def add(self, r: AccessRecord) -> None:
        w = self.window
        w.first_ts = min(w.first_ts, r.ts)
        w.last_ts = max(w.last_ts, r.ts)
        name = OP_NAME[r.op]
        w.counts[name] = w.counts.get(name, 0) + 1
        if r.size is not None and (self.max_size_seen is None or r.size > self.max_size_seen):
            self.max_size_seen = r.size
        if r.op is Op.GET:
            # A GET without a size reads what we believe the object's size is;
            # the aggregate resolves that, so only explicit sizes count here.
            w.bytes_read += r.size or 0
        elif r.op is Op.PUT:
            w.bytes_written += r.size or 0
            self.puts += 1
            self.last_put_size = r.size
            self.last_put_ts = r.ts
        elif r.op is Op.DELETE:
            self.deleted_at = r.ts
        if r.latency_ms is not None:
            w.latency_sum_ms += r.latency_ms
            w.latency_max_ms = max(w.latency_max_ms, r.latency_ms)
            w.latency_n += 1


def fold(records: Iterable[AccessRecord]) -> dict[tuple[str, str], list[Segment]]:
    """Group by (tenant, key) in event-time order; split at each DELETE."""
    ordered = sorted(records, key=lambda r: r.ts)
    out: dict[tuple[str, str], list[Segment]] = {}
    for r in ordered:
        segments = out.setdefault((r.tenant, r.key), [])
        current = segments[-1] if segments else None
        if current is not None and current.deleted_at is not None:
            if r.op is not Op.PUT:
                # Only a PUT brings a deleted key back; record the stray access
                # against the closed segment so the caller can report it.
                current.ignored += 1
                continue
            current = None
        if current is None:
            current = Segment(r.tenant, r.key, AccessWindow(r.ts, r.ts), r.op is Op.PUT)
            segments.append(current)
        current.add(r)
    return out
