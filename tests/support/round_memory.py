"""How much a process grows while deciding many objects with long histories.

    python -m tests.support.round_memory --objects 100000 --years 50 --page 10000

Builds the objects in an in-memory event store (registrations spread over
``--years``, some read since), then decides them page by page as a shard's
round does (observe, then choose with "ours"), sampling the process's RSS every
5 ms. Prints one JSON line: the peak growth over the RSS before deciding.
Run alone in its own process, so that nothing else moves the figure.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

import psutil

from tiering.domain.application import ObjectLogApplication
from tiering.domain.records import AccessRecord, Op
from tiering.ml.live import decide_objects
from tiering.ml.policies import Ours

DAY = 86_400.0
NOW = 1_796_601_600.0  # 2026-12-06


class PeakRSS:
    """The highest RSS seen by a sampling thread while in the ``with`` block."""

    def __init__(self, every_s: float = 0.005):
        self.proc, self.every_s, self.peak = psutil.Process(), every_s, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakRSS":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def build(objects: int, years: float, seed: int = 7) -> ObjectLogApplication:
    rng = random.Random(seed)
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    span = years * 365.25 * DAY
    born = [NOW - span + rng.uniform(0, span - DAY) for _ in range(objects)]
    app.ingest([AccessRecord(b, "t1", f"k{i}", Op.PUT, 2 ** 20) for i, b in enumerate(born)], "born")
    reads = [AccessRecord(b + rng.uniform(0, NOW - b - 1), "t1", f"k{i}", Op.GET, None)
             for i, b in enumerate(born) if i % 3 == 0]
    app.ingest(sorted(reads, key=lambda r: r.ts), "read")
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--years", type=float, default=50)
    ap.add_argument("--page", type=int, default=10_000)
    args = ap.parse_args()
    app = build(args.objects, args.years)
    keys = [("t1", f"k{i}") for i in range(args.objects)]
    before = psutil.Process().memory_info().rss
    moves, t0 = 0, time.perf_counter()
    with PeakRSS() as peak:
        for start in range(0, len(keys), args.page):
            moves += len(decide_objects(app, keys[start:start + args.page], Ours(), NOW))
    print(json.dumps({"decided_objects": len(keys), "moves": moves, "page": args.page,
                      "years": args.years, "seconds": round(time.perf_counter() - t0, 1),
                      "rss_before_mib": round(before / 2 ** 20),
                      "peak_growth_mib": round((peak.peak - before) / 2 ** 20)}))


if __name__ == "__main__":
    main()
