"""Read benchmark: p50/p99 of GET /metrics and GET /objects/{key} over HTTP, at
two estate sizes, against a raw SQLite read of the same row in the same run.

    python bench/reads.py [--sizes 10000,1000000] [--requests 2000]

For each size: register that many objects (one PUT each, in-process shard
workers on a SQLite store under a temporary data dir), build the read models
with the projection runner, serve the real FastAPI app with uvicorn on
loopback on a socket reserved as ``tiering launch`` reserves it, and time
requests from one httpx client, over its kept-alive connection and, for
``/metrics``, over a new connection each. The baseline is the primary-
key SELECT on ``rm_objects`` that GET /objects/{key} ends in, timed on the
same keys. Reports each size's percentiles, the API/raw ratio, and how much
slower the larger estate answers (the issue's bound is 1.5x).
"""

from __future__ import annotations

import argparse
import http.client
import platform
import random
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tiering.config import Settings  # noqa: E402
from tiering.domain.records import AccessRecord, Op  # noqa: E402

T0 = 1_767_225_600.0
BATCH = 5_000


def populate(settings: Settings, n: int) -> list[str]:
    from tiering.projections.runner import ProjectionRunner
    from tiering.shards.ingest import LocalIngest
    from tiering.shards.worker import ShardWorker

    workers = [ShardWorker(i, settings) for i in range(settings.shards)]
    ingest = LocalIngest(workers)
    keys = [f"bench/{i:08d}" for i in range(n)]
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        ingest.ingest([AccessRecord(T0 + j, "acme", keys[j], Op.PUT, 1000 + j % 5000)
                       for j in range(i, min(i + BATCH, n))])
    print(f"  registered {n:,} objects in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    runner = ProjectionRunner(settings)
    runner.catch_up()
    runner.close()
    print(f"  projected in {time.perf_counter() - started:.0f} s", flush=True)
    for w in workers:
        w.close()
    return keys


def serve(settings: Settings):
    import uvicorn

    from tiering.app.wiring import build_services
    from tiering.devstack._proc import reserve_port
    from tiering.shards.ingest import LocalIngest
    from tiering.web.app import create_app

    services = build_services(settings, LocalIngest([]))
    services.access.bootstrap(settings.admin_key_path)
    app = create_app(services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.api_port,
                                           log_level="warning"))
    # Served on a reserved socket, as `tiering launch` serves the API: how that
    # socket is made decides whether kept-alive connections stall.
    sock = reserve_port("127.0.0.1", settings.api_port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def measure(settings: Settings, keys: list[str], requests: int) -> dict[str, tuple[float, float]]:
    import httpx

    rng = random.Random(7)
    picks = [rng.choice(keys) for _ in range(requests)]
    server, thread = serve(settings)
    out = {}
    try:
        # Every call presents a key, as real clients do: its check is part of the cost.
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}",
                          headers={"Authorization": f"Bearer {settings.client_key()}"}) as client:
            for path in ("/metrics", "/objects/bench/00000000"):
                client.get(path, params={"tenant": "acme"}).raise_for_status()  # warm
            timings = []
            for _ in range(requests):
                t = time.perf_counter()
                client.get("/metrics").raise_for_status()
                timings.append(time.perf_counter() - t)
            out["GET /metrics"] = percentiles(timings)
            timings = []
            # http.client, not httpx: a new httpx client costs ~40 ms of TLS setup by itself.
            auth = {"Authorization": f"Bearer {settings.client_key()}"}
            for _ in range(requests // 4):
                t = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", settings.api_port, timeout=30)
                conn.request("GET", "/metrics", headers=auth)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                assert resp.status == 200, resp.status
                timings.append(time.perf_counter() - t)
            out["GET /metrics, new connection each"] = percentiles(timings)
            timings = []
            for key in picks:
                t = time.perf_counter()
                client.get(f"/objects/{key}", params={"tenant": "acme"}).raise_for_status()
                timings.append(time.perf_counter() - t)
            out["GET /objects/{key}"] = percentiles(timings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    db = sqlite3.connect(settings.sqlite_path)
    timings = []
    for key in picks:
        t = time.perf_counter()
        db.execute("SELECT * FROM rm_objects WHERE tenant = ? AND key = ?", ("acme", key)).fetchall()
        timings.append(time.perf_counter() - t)
    db.close()
    out["raw SELECT of the row"] = percentiles(timings)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# reads — {datetime.now(timezone.utc):%Y-%m-%d} on {platform.node()} "
          f"({platform.processor() or platform.machine()}, Python {platform.python_version()})")
    results = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="tiering-reads-") as tmp:
            settings = Settings(data_dir=Path(tmp), shards=2, api_port=18_000 + len(results),
                                snapshot_interval_s=3600)
            print(f"{n:,} objects:", flush=True)
            keys = populate(settings, n)
            results[n] = measure(settings, keys, args.requests)
    print("\n| objects | request | p50 ms | p99 ms | p99 / raw p99 |")
    print("|---|---|---|---|---|")
    for n, r in results.items():
        raw = r["raw SELECT of the row"][1]
        for name, (p50, p99) in r.items():
            print(f"| {n:,} | {name} | {p50:.2f} | {p99:.2f} | {p99 / raw:.1f}x |")
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        for name in ("GET /metrics", "GET /objects/{key}"):
            print(f"{name}: p99 at {sizes[-1]:,} / at {sizes[0]:,} = "
                  f"{large[name][1] / small[name][1]:.2f}x (target <= 1.5x, and < 20 ms)")
    for n, r in results.items():
        kept, fresh = r["GET /metrics"][0], r["GET /metrics, new connection each"][0]
        print(f"{n:,} objects: GET /metrics p50 kept-alive / new connection = {kept / fresh:.2f}x "
              "(target: within 1.5x either way)")


if __name__ == "__main__":
    main()
