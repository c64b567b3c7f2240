"""Memory of the embedded stack at rest, by process: what `make run` costs a machine.

    python bench/footprint.py [--objects 100000] [--json out.json]

Launches a stack as a user does (``tiering launch``: local Ray, its own data dir and
ports, embedded SeaweedFS and Kafka when Java is there), registers ``--objects``
objects over REST (one PUT each, records only), waits until the read models have
caught up and the stack is idle, then sums the proportional set size (PSS: shared
pages split between the processes sharing them) of every process the launch
started, grouped by what it is. The baseline is the same stack with no object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from bench.load import launch, stop  # noqa: E402

GROUPS = (("ray::ShardActor", "shard actors"), ("ray::MoverWorker", "mover actors"),
          ("ray::PredictorWorker", "predictor actors"), ("ray::Projection", "projection runner"),
          ("ray::Snapshotter", "snapshotter"), ("ray::JobWorker", "job worker"),
          ("ray::IDLE", "idle Ray workers"), ("ray::", "other Ray actors"),
          ("gcs_server", "Ray: GCS"), ("raylet", "Ray: raylet"), ("dashboard", "Ray: dashboard and agents"),
          ("ray/_private", "Ray: other"), ("log_monitor", "Ray: other"), ("weed", "SeaweedFS"),
          ("java", "Kafka"), ("tiering launch", "API, dashboard and driver"))


def kind(proc: psutil.Process) -> str:
    line = " ".join(proc.cmdline())
    return next((name for needle, name in GROUPS if needle in line), "other")


def pss_by_kind(root_pid: int) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    root = psutil.Process(root_pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            out[kind(proc)] += proc.memory_full_info().pss / 2 ** 20
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return dict(out)


def settle(url: str, key: str, quiet_s: float = 10) -> None:
    """Until the read models have caught up and stayed so for ``quiet_s``."""
    headers = {"Authorization": f"Bearer {key}"}
    caught_up_since = None
    while True:
        lag = httpx.get(f"{url}/health", headers=headers, timeout=30).json()["checks"]
        behind = (lag.get("projections") or {}).get("detail", {}).get("lag_events", 0)
        if behind:
            caught_up_since = None
        elif caught_up_since is None:
            caught_up_since = time.monotonic()
        elif time.monotonic() - caught_up_since >= quiet_s:
            return
        time.sleep(1)


def register(url: str, key: str, n: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    now = time.time()
    with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
        for start in range(0, n, 5000):
            body = [{"ts": now, "tenant": "footprint", "key": f"obj/{i:08d}", "op": "PUT", "size": 4096 + i % 997}
                    for i in range(start, min(n, start + 5000))]
            while True:
                resp = http.post("/accesses", params={"materialize": "false"}, json=body)
                if resp.status_code == 429:
                    time.sleep(float(resp.headers.get("retry-after", "1")))
                    continue
                resp.raise_for_status()
                break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tiering-footprint-") as tmp:
        proc, url, key = launch(Path(tmp) / "var")
        try:
            settle(url, key)
            empty = pss_by_kind(proc.pid)
            register(url, key, args.objects)
            settle(url, key)
            loaded = pss_by_kind(proc.pid)
        finally:
            stop(proc)
    print(f"{'process':28} {'no objects MiB':>15} {f'{args.objects:,} objects MiB':>20}")
    for name in sorted(set(empty) | set(loaded), key=lambda k: -loaded.get(k, 0)):
        print(f"{name:28} {empty.get(name, 0):15.0f} {loaded.get(name, 0):20.0f}")
    print(f"{'total':28} {sum(empty.values()):15.0f} {sum(loaded.values()):20.0f}")
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(),
                          "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")},
              "objects": args.objects, "pss_mib_empty": empty, "pss_mib_loaded": loaded}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
