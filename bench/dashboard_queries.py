"""What one dashboard refresh costs at scale: the read-side queries behind it,
timed on SQLite read models holding N objects.

    python bench/dashboard_queries.py [--objects 1000000] [--hours 24] [--repeat 5]

The rows are bulk-inserted straight into the rm_ tables with the shapes the
projector writes (every object with an access in each of the last ``hours``
event-time hours, the worst case for the top-objects aggregate; one move per
hundred objects), so this measures the queries, not ingest.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tiering.domain.clock import HOUR_S  # noqa: E402
from tiering.projections import schema  # noqa: E402
from tiering.projections.db import ReadModelDB  # noqa: E402
from tiering.projections.insights import Insights  # noqa: E402
from tiering.projections.queries import ReadModels  # noqa: E402

T0 = 500_000 * HOUR_S


def fill(db: ReadModelDB, objects: int, hours: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    cols = schema.OBJECT_COLUMNS
    now = T0 + hours * HOUR_S
    statuses = ["reclaimed"] * 8 + ["failed", "requested"]
    with db.transaction():
        for start in range(0, objects, 50_000):
            rows, buckets, moves = [], [], []
            for i in range(start, min(objects, start + 50_000)):
                oid = f"{i:032x}"
                row = dict.fromkeys(cols, 0)
                row.update(tenant=f"t{i % 4}", key=f"k{i:08d}", object_id=oid, tier="hot",
                           tier_since=T0, size=rnd.randint(1, 1 << 24), etag="", origin="put",
                           registered_at=T0, last_access_at=now, deleted_at=None, move_id=None,
                           move_target=None, move_step=None, rec_target=None, rec_policy=None,
                           rec_score=None, rec_reasons=None, rec_at=None, version=2,
                           updated_at=now)
                rows.append([row[c] for c in cols])
                buckets.extend((oid, T0 // HOUR_S + h, rnd.randint(1, 9)) for h in range(hours))
                if i % 100 == 0:
                    at = T0 + rnd.random() * hours * HOUR_S
                    moves.append((f"m{i}", oid, row["tenant"], row["key"], "hot", "warm",
                                  rnd.choice(statuses), "idle", at, at, "[]", None))
            db.executemany(schema.upsert_sql("rm_objects", cols, ("tenant", "key")), rows)
            db.executemany("INSERT INTO rm_access_buckets VALUES (?, ?, ?)", buckets)
            db.executemany(schema.upsert_sql("rm_movements", schema.MOVEMENT_COLUMNS,
                                             ("move_id",)), moves)
        per_tenant = objects // 4
        db.executemany("INSERT INTO rm_tier_stats VALUES (?, 'hot', ?, ?, ?, ?)",
                       [(f"t{t}", per_tenant, per_tenant << 23, per_tenant // 10, per_tenant << 12)
                        for t in range(4)])
        db.executemany("INSERT INTO rm_meta VALUES (?, ?)", [("event_time", now),
                                                              ("first_event_time", T0)])


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tiering-dash-bench-") as tmp:
        db = ReadModelDB("sqlite", {"path": str(Path(tmp) / "rm.sqlite")})
        schema.ensure(db)
        started = time.perf_counter()
        fill(db, args.objects, args.hours)
        print(f"filled {args.objects:,} objects, {args.objects * args.hours:,} hour buckets, "
              f"{args.objects // 100:,} moves in {time.perf_counter() - started:.0f} s")
        rm = ReadModels(db)
        ins = Insights(rm)
        queries = {
            "GET /insights/overview (metrics + cost comparison)":
                lambda: ins.cost_comparison(metrics=rm.metrics()),
            "GET /insights/overview?tenant=t1": lambda: ins.cost_comparison("t1", rm.metrics("t1")),
            "GET /insights/moves-per-hour": lambda: ins.moves_per_hour(48),
            "GET /insights/top-objects (24 h, top 20)": lambda: ins.top_objects(24, 20),
            "GET /insights/top-objects?tenant=t1": lambda: ins.top_objects(24, 20, "t1"),
            "GET /insights/top-objects (1 h)": lambda: ins.top_objects(1, 20),
            "GET /metrics/history (500 snapshots)": lambda: rm.metrics_history(500),
            "GET /insights/tenants": ins.tenants,
        }
        # Raw baselines, same run: the primary-key read every small query is
        # close to, and one plain scan of the table the top-objects sum reads.
        raw = {
            "raw: primary-key SELECT of one rm_objects row": lambda: db.fetchall(
                "SELECT * FROM rm_objects WHERE tenant = ? AND key = ?", ("t1", "k00000001")),
            "raw: SUM scan of rm_access_buckets": lambda: db.fetchall(
                "SELECT SUM(accesses) FROM rm_access_buckets"),
        }
        scan = timed(raw["raw: SUM scan of rm_access_buckets"], args.repeat)
        print(f"| query | median of {args.repeat} | / raw bucket scan |\n|---|---|---|")
        for name, fn in {**raw, **queries}.items():
            t = timed(fn, args.repeat)
            print(f"| {name} | {t * 1e3:,.2f} ms | {t / scan:.2f}x |")
        db.close()


if __name__ == "__main__":
    main()
