"""Ingest benchmark: accesses/s end to end into the event store, against raw
baselines measured in the same run.

    python bench/ingest.py [--objects 1000000] [--records 2000000] [--shards 2]

Measures, on a fresh store under a temporary data dir:
1. raw baselines: trace parsing alone; batched raw `eventsourcing` appends
   (one trivial aggregate per event, saved in batches like our shards do);
2. registering N objects (one PUT each) through ShardIngest and the shard actors;
3. a Zipf workload over those N objects through the same path;
4. the IBM COS trace replayed repeatedly through the same path;
and reports events per 1,000 accesses and resident memory per tracked object.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from tiering.adapters.eventstore import adapt_recorder  # noqa: E402
from tiering.config import Settings  # noqa: E402
from tiering.domain.records import AccessRecord, Op  # noqa: E402
from tiering.ingest.producer import SyntheticProducer  # noqa: E402
from tiering.ingest.traces import iter_trace  # noqa: E402

SHARED = Path(os.environ.get("TIERING_SHARED_DIR", ROOT.parent / "shared"))
IBM = SHARED / "traces" / "ibm-cos-000-part0.txt"
BATCH = 5_000


class Tally(Aggregate):
    """The smallest aggregate that still goes through the library's pipeline."""

    @event("Created")
    def __init__(self, n: int):
        self.n = n


def raw_appends(settings: Settings, events: int) -> float:
    env = {**settings.eventstore_env(), "SQLITE_DBNAME": str(settings.data_dir / "raw.sqlite")}
    app = Application(env=env)
    # The same recorder settings as ours (the page cache; on PostgreSQL, inserts
    # outside psycopg's pipeline mode, which can hang on large batches).
    adapt_recorder(app.recorder, env)
    started = time.perf_counter()
    for i in range(0, events, BATCH):
        app.save(*(Tally(n) for n in range(i, min(i + BATCH, events))))
    return events / (time.perf_counter() - started)


def parse_rate(repeats: int) -> float:
    started, n = time.perf_counter(), 0
    for _ in range(repeats):
        n += sum(1 for _ in iter_trace(IBM, "ibm-cos"))
    return n / (time.perf_counter() - started)


def run_through(ingest, batches) -> tuple[float, int, int]:
    records = events = 0
    started = time.perf_counter()
    for batch in batches:
        result = ingest.ingest(batch)
        records += result.accepted
        events += result.events
    return records / (time.perf_counter() - started), records, events


def ibm_repeated(repeats: int) -> list[list[AccessRecord]]:
    base = [r for r in iter_trace(IBM, "ibm-cos") if isinstance(r, AccessRecord)]
    span = base[-1].ts - base[0].ts + 1.0
    out: list[AccessRecord] = []
    for k in range(repeats):
        # Later passes would hit closed logs of deleted keys; keep them alive.
        out += [AccessRecord(r.ts + k * span, r.tenant, r.key, r.op, r.size, r.latency_ms)
                for r in base if r.op is not Op.DELETE]
    return [out[i:i + BATCH] for i in range(0, len(out), BATCH)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--ibm-repeats", type=int, default=20)
    ap.add_argument("--shards", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL; default SQLite")
    args = ap.parse_args()

    import ray

    from tiering.app import cluster
    from tiering.shards.ingest import ShardIngest

    data = Path(tempfile.mkdtemp(prefix="tiering-bench-"))
    # the store grows to gigabytes; removed on any exit, an error's included
    atexit.register(shutil.rmtree, data, True)
    cache = args.objects // args.shards + 10_000
    settings = Settings(data_dir=data, shards=args.shards, database_url=args.database_url,
                        aggregate_cache_size=cache, ray_address="local")
    rows = []

    parse = parse_rate(20)
    raw = raw_appends(settings, 200_000)
    rows.append(("raw: IBM trace parsing", f"{parse:,.0f} records/s", ""))
    rows.append(("raw: batched eventsourcing appends", f"{raw:,.0f} events/s", ""))

    settings = cluster.open_instance(settings)
    cluster.connect(settings)
    handles = cluster.shard_handles(settings)
    ingest = ShardIngest(handles)
    rss_empty = sum(s["rss_bytes"] for s in ray.get([h.stats.remote() for h in handles]))

    producer = SyntheticProducer(args.objects, seed=7)
    register = [[AccessRecord(producer.start_ts, "default", producer.key(i), Op.PUT, 4096, None)
                 for i in range(j, min(j + BATCH, args.objects))]
                for j in range(0, args.objects, BATCH)]
    rate, n, ev = run_through(ingest, register)
    rows.append((f"register {n:,} objects (1 PUT each)", f"{rate:,.0f} accesses/s",
                 f"{ev / n * 1000:,.0f} events/1k; {ev / n * rate / raw:.2f}x raw appends"))
    stats = ray.get([h.stats.remote() for h in handles])
    tracked = sum(s["cached_objects"] for s in stats)
    rss = sum(s["rss_bytes"] for s in stats)
    per_object = (rss - rss_empty) / max(tracked, 1)

    zipf = list(SyntheticProducer(args.objects, seed=7, initial_fraction=1.0)
                .batches(BATCH, total=args.records))
    rate, n, ev = run_through(ingest, zipf)
    rows.append((f"Zipf over {args.objects:,} objects, {n:,} accesses", f"{rate:,.0f} accesses/s",
                 f"{ev / n * 1000:,.0f} events/1k; {ev / n * rate / raw:.2f}x raw appends"))

    ibm = ibm_repeated(args.ibm_repeats)
    rate, n, ev = run_through(ingest, ibm)
    rows.append((f"IBM COS trace x{args.ibm_repeats} ({n:,} accesses)", f"{rate:,.0f} accesses/s",
                 f"{ev / n * 1000:,.0f} events/1k; {ev / n * rate / raw:.2f}x raw appends"))
    rows.append((f"resident memory per tracked object ({tracked:,} cached)",
                 f"{per_object:,.0f} bytes", f"shards' RSS {rss / 2**20:,.0f} MiB"))

    store = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    print(f"\n## Ingest ({datetime.now(timezone.utc):%Y-%m-%d}, {platform.node()}, "
          f"{os.cpu_count()} cores, {args.shards} shards, {store})\n")
    print("| measurement | rate | notes |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
