"""Mover throughput: the full pipeline against a raw copy+remove loop, same server, same run.

Pipeline: decisions published to Kafka -> mover actors (Ray) -> request,
server-side copy, verify, commit, delete source and reclaim through the shards
(SQLite event log) -> outcomes on tiering.move-status. Raw: a single loop of
``copy_object`` + ``remove_object`` with the minio SDK on the same SeaweedFS.

    .venv/bin/python bench/mover.py [--counts 2000,300,12] [--rounds 4] [--json out.json]

Targets: pipeline >= 0.8 of raw for objects of 1 MiB and more, >= 0.5 for 4 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {"4 KiB": 4 << 10, "1 MiB": 1 << 20, "64 MiB": 64 << 20}
TARGETS = {"4 KiB": 0.5, "1 MiB": 0.8, "64 MiB": 0.8}


def raw_loop(store, src: str, dst: str, names: list[str]) -> float:
    """Seconds for copy_object + remove_object of every name, one after another."""
    from minio.commonconfig import CopySource

    client = store.client
    t0 = time.perf_counter()
    for name in names:
        client.copy_object(dst, name, CopySource(src, name))
        client.remove_object(src, name)
    return time.perf_counter() - t0


async def pipeline(runtime, decisions, status_topic: str, bootstrap: str) -> float:
    """Seconds from the first publish to the last 'completed' outcome."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(status_topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    waiting = {d.move_id for d in decisions}
    t0 = time.perf_counter()
    await asyncio.gather(*(runtime.publish(d) for d in decisions))
    try:
        while waiting:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    outcome = json.loads(r.value)
                    if outcome.get("move_id") in waiting:
                        if outcome["outcome"] != "completed":
                            raise RuntimeError(f"move did not complete: {outcome}")
                        waiting.discard(outcome["move_id"])
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="2000,300,12", help="objects per size: 4 KiB,1 MiB,64 MiB")
    p.add_argument("--movers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=32, help="moves in flight per mover")
    p.add_argument("--rounds", type=int, default=4, help="alternations of pipeline and raw")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    counts = dict(zip(SIZES, map(int, args.counts.split(","))))

    import ray

    from tiering.actors.shard import shard_actor_class
    from tiering.adapters.bus import Decision
    from tiering.app.cluster import ensure_auth_token, open_instance
    from tiering.app.moves_runtime import MovesRuntime
    from tiering.config import Settings
    from tiering.devstack import KafkaBroker, SeaweedFS
    from tiering.domain.ids import shard_of
    from tiering.domain.records import AccessRecord, Op

    root = Path(tempfile.mkdtemp(prefix="bench-mover-"))
    seaweed = SeaweedFS(root / "seaweed").start()
    kafka = KafkaBroker(root / "kafka").start()
    ensure_auth_token()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    settings = Settings(data_dir=root / "var", shards=2, movers=args.movers,
                        mover_concurrency=args.concurrency, s3_endpoint=seaweed.endpoint,
                        s3_access_key=seaweed.access_key, s3_secret_key=seaweed.secret_key,
                        kafka_bootstrap=kafka.bootstrap, materialize_cap_bytes=max(SIZES.values()),
                        age_rule=False)
    payload = settings.model_dump(mode="json")
    names = [f"bench-shard-{i}" for i in range(settings.shards)]
    open_instance(settings)
    shards = [shard_actor_class().options(name=n).remote(i, payload, create_tables=False)
              for i, n in enumerate(names)]
    runtime = MovesRuntime(settings).start(shards, shard_names=names, name_prefix=None,
                                              periodic=False)
    store = runtime.store
    store.ensure_buckets(["raw-src", "raw-dst"])
    results = []
    try:
        for label, size in SIZES.items():
            n = counts[label]
            piped = raw = 0.0
            # Rounds alternate pipeline and raw, so that drift in the server's
            # state or in the machine's load falls on both alike.
            for part in range(args.rounds):
                k = n // args.rounds + (1 if part < n % args.rounds else 0)
                tag = uuid.uuid4().hex[:6]
                keys = [f"{label.replace(' ', '')}-{tag}-{i:05d}" for i in range(k)]
                records = [AccessRecord(1.0, "bench", key, Op.PUT, size) for key in keys]
                for i in range(0, k, 50):
                    runtime.call(runtime.ingest.aingest(records[i:i + 50]))
                states = [ray.get(shards[shard_of("bench", key, len(shards))].get_object.remote(
                    "bench", key)) for key in keys]
                decisions = [Decision.for_object(st, "warm", "bench", "bench", time.time())
                             for st in states]
                piped += runtime.call(pipeline(runtime, decisions, "tiering.move-status",
                                               kafka.bootstrap))
                data = os.urandom(size)
                names = [f"raw/{key}" for key in keys]
                for name in names:
                    store.put("raw-src", name, data)
                raw += raw_loop(store, "raw-src", "raw-dst", names)
            row = {"size": label, "objects": n,
                   "pipeline_moves_s": n / piped, "pipeline_mb_s": n * size / piped / 1e6,
                   "raw_moves_s": n / raw, "raw_mb_s": n * size / raw / 1e6}
            row["ratio"] = row["pipeline_moves_s"] / row["raw_moves_s"]
            row["target"] = TARGETS[label]
            results.append(row)
            print(f"{label:>7} x{n:<4} pipeline {row['pipeline_moves_s']:8.1f} moves/s "
                  f"{row['pipeline_mb_s']:8.1f} MB/s | raw {row['raw_moves_s']:8.1f} moves/s "
                  f"{row['raw_mb_s']:8.1f} MB/s | ratio {row['ratio']:.2f} "
                  f"(target >= {row['target']})", flush=True)
    finally:
        runtime.stop()
        ray.shutdown()
        kafka.stop()
        seaweed.stop()
        # Each run writes gigabytes; left behind, they fill the disk that weed mini
        # sizes its volume count from.
        shutil.rmtree(root, ignore_errors=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(json.dumps({"machine": machine}))
    return 0 if all(r["ratio"] >= r["target"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
