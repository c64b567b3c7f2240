"""Feeding record streams into the ingest path, in batches, with progress.

Trace replay and the synthetic producer share this loop; only their sources
differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from tiering.domain.records import AccessRecord


@dataclass
class FeedStats:
    records: int = 0
    batches: int = 0
    events: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0


def batched(items: Iterable[AccessRecord], size: int) -> Iterator[list[AccessRecord]]:
    batch: list[AccessRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Pacer:
    """Holds event time to ``speed`` x wall time; speed 0 means no pacing."""

    def __init__(self, speed: float, sleep: Callable[[float], None] = time.sleep):
        self.speed = speed
        self.sleep = sleep
        self.t0_event: float | None = None
        self.t0_wall = 0.0

    def wait_for(self, event_ts: float) -> None:
        if self.speed <= 0:
            return
        if self.t0_event is None:
            self.t0_event, self.t0_wall = event_ts, time.monotonic()
            return
        due = self.t0_wall + (event_ts - self.t0_event) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            self.sleep(delay)


def feed(batches: Iterable[list[AccessRecord]], send: Callable[[list[AccessRecord]], dict],
         stats: FeedStats, pacer: Pacer | None = None,
         on_batch: Callable[[FeedStats], None] | None = None,
         should_stop: Callable[[], bool] = lambda: False) -> FeedStats:
    for batch in batches:
        if should_stop():
            break
        if pacer is not None:
            pacer.wait_for(batch[-1].ts)
        result = send(batch)
        stats.records += len(batch)
        stats.batches += 1
        stats.events += int(result.get("events", 0))
        if on_batch is not None:
            on_batch(stats)
    return stats
