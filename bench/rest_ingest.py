"""REST ingest against its raw baselines, all measured in one run.

    python bench/rest_ingest.py [--seconds 20] [--json out.json]

1. **The HTTP ceiling**: a bare FastAPI endpoint (``POST /accesses`` that parses
   the JSON body and answers, nothing more), served the way ``tiering launch``
   serves the API (uvicorn on a socket made by ``reserve_port``), in a process of
   its own.
2. **The stack**: ``tiering launch`` (local Ray, two shards on SQLite, its own
   data dir and ports), driven from this process: one record per request at 16
   and 64 clients, 500 records per request at 4 and 16 clients, every POST with
   its own ``Idempotency-Key``. While the 16-client one-record run goes,
   another connection times ``GET /metrics`` ten times a second (its p99 is reported).
3. **The in-process shard rate**: after the stack has stopped, the same kind of
   records (500 per batch) through ``ShardIngest`` straight into two local
   shard actors, with no HTTP.

Targets: one record per request at 16 clients, at least 3,000 records/s and at
least 0.5x the bare endpoint's requests/s; batched, at least 0.5x the
in-process rate; ``GET /metrics`` p99 under 20 ms during the 16-client run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402 - module level: the route's annotations resolve here

from bench.load import launch, run_load, stop  # noqa: E402
from tiering.devstack._proc import free_ports  # noqa: E402


def serve_bare(port: int) -> None:
    """The HTTP ceiling: the same server, socket and JSON parsing, no work."""
    import uvicorn

    from tiering.devstack._proc import reserve_port

    app = FastAPI()

    @app.post("/accesses")
    async def accesses(request: Request) -> dict:
        return {"accepted": len(await request.json())}

    @app.get("/metrics/prometheus")
    async def metrics() -> str:  # run_load reads the server's histogram; the bare one has none
        return ""

    sock = reserve_port("127.0.0.1", port)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run(sockets=[sock])


def start_bare() -> tuple[subprocess.Popen, str]:
    (port,) = free_ports(1)
    proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)])
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{url}/accesses", json=[], timeout=2)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the bare endpoint did not come up")


async def time_metrics(url: str, key: str, until: float, every_s: float = 0.1) -> list[float]:
    """GET /metrics over one kept-alive connection, ten times a second (a busy
    dashboard or scraper, not a flood that would itself load the API), until ``until``."""
    import aiohttp

    took = []
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"},
                                     connector=aiohttp.TCPConnector(limit=1)) as http:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            async with http.get("/metrics") as r:
                body = await r.read()
            took.append(time.perf_counter() - t0)
            assert r.status == 200, body[:200]
            await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - t0)))
    return took


async def ingest_with_reads(url: str, key: str, clients: int, seconds: float) -> tuple[dict, list[float]]:
    until = time.monotonic() + seconds
    row, reads = await asyncio.gather(run_load(url, key, clients, seconds, 1),
                                      time_metrics(url, key, until))
    return row, reads


def inprocess_rate(seconds: float) -> float:
    """Records/s of 500-record batches through ShardIngest into two local shards."""
    import ray

    from tiering.app import cluster
    from tiering.config import Settings
    from tiering.domain.records import AccessRecord, Op
    from tiering.shards.ingest import ShardIngest

    with tempfile.TemporaryDirectory(prefix="tiering-rest-inproc-") as tmp:
        settings = cluster.open_instance(Settings(data_dir=Path(tmp), shards=2, ray_address="local"))
        cluster.connect(settings)
        try:
            ingest = ShardIngest(cluster.shard_handles(settings))
            n, b, started = 0, 0, time.monotonic()
            while time.monotonic() - started < seconds:
                ts = time.time()
                batch = [AccessRecord(ts, "load", f"c{b % 16}/{(b * 500 + i) % 5000}",
                                      Op.PUT if b < 16 else Op.GET, 4096, None) for i in range(500)]
                ingest.ingest(batch)
                n, b = n + len(batch), b + 1
            return n / (time.monotonic() - started)
        finally:
            ray.shutdown()


def summary(rows: list[dict], bare: dict, reads: list[float], inproc: float) -> list[str]:
    one16 = next(r for r in rows if r["batch"] == 1 and r["clients"] == 16)
    batched = max((r for r in rows if r["batch"] == 500), key=lambda r: r["accepted_records_per_s"])
    p99 = float(np.percentile(np.array(reads) * 1000, 99)) if reads else float("nan")
    bare_rps = bare["accepted_records_per_s"]
    return [
        f"one record per request, 16 clients: {one16['accepted_records_per_s']:,} records/s "
        f"(target >= 3,000); {one16['accepted_records_per_s'] / bare_rps:.2f}x the bare endpoint's "
        f"{bare_rps:,} requests/s (target >= 0.5)",
        f"batched, best: {batched['accepted_records_per_s']:,} records/s at {batched['clients']} clients; "
        f"{batched['accepted_records_per_s'] / inproc:.2f}x the in-process {inproc:,.0f} records/s (target >= 0.5)",
        f"GET /metrics during the 16-client run: p50 {np.percentile(np.array(reads) * 1000, 50):.1f} ms, "
        f"p99 {p99:.1f} ms over {len(reads)} reads (target < 20 ms)",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_server:
        return serve_bare(args.bare_server)

    bare_proc, bare_url = start_bare()
    try:
        asyncio.run(run_load(bare_url, "none", 4, 3, 1, keyed=False))  # warm-up
        bare_rows = [asyncio.run(run_load(bare_url, "none", c, args.seconds, 1)) for c in (16, 64)]
    finally:
        bare_proc.kill()
    for r in bare_rows:
        print(f"  bare endpoint, {r['clients']:>2} clients: {r['accepted_records_per_s']:>6,} requests/s, "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms", flush=True)

    rows, reads = [], []
    with tempfile.TemporaryDirectory(prefix="tiering-rest-") as tmp:
        proc, url, key = launch(Path(tmp) / "var")
        try:
            asyncio.run(run_load(url, key, 4, 5, 500))  # warm-up, not reported
            for clients, batch in ((16, 1), (64, 1), (4, 500), (16, 500)):
                if (clients, batch) == (16, 1):
                    row, reads = asyncio.run(ingest_with_reads(url, key, clients, args.seconds))
                else:
                    row = asyncio.run(run_load(url, key, clients, args.seconds, batch))
                rows.append(row)
                print(f"  stack, {clients:>2} clients x {batch:>3} records: {row['accepted_records_per_s']:>6,} "
                      f"records/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
                      f"{row['come_back']} told to come back, {row['errors']} errors", flush=True)
        finally:
            stop(proc)
    inproc = inprocess_rate(args.seconds)
    print(f"  in process, 500-record batches: {inproc:,.0f} records/s", flush=True)
    lines = summary(rows, bare_rows[0], reads, inproc)
    for line in lines:
        print("  " + line)
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(),
                          "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")},
              "bare": bare_rows, "stack": rows, "inprocess_records_per_s": round(inproc),
              "metrics_read_ms": {"p50": round(float(np.percentile(np.array(reads) * 1000, 50)), 2),
                                  "p99": round(float(np.percentile(np.array(reads) * 1000, 99)), 2),
                                  "reads": len(reads)},
              "summary": lines}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
