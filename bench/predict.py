"""Scoring 1M objects: the predictor actor pool against one process.

The model is "ours" exactly as `tiering evaluate` trains it on the IBM COS
trace (the settings it chooses on the training days, 60 trees, depth <= 14);
the 1M feature rows are that trace's real feature rows, tiled. Ray start-up
and actor creation are timed apart from scoring. Both timings score the same
rows in the same batches, and the labels must agree.

    .venv/bin/python bench/predict.py [--objects 1000000] [--actors 2] [--batch 50000] [--json out.json]

Target: <= 5 s for 1M objects on 2 cores with the pool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "ibm-cos-000-part0.txt"


def real_model_and_rows():
    from tiering.domain.costs import CostModel
    from tiering.ingest.traces import iter_records
    from tiering.ml.features import FeatureBuilder, group_hash
    from tiering.ml.history import usage_from_logs
    from tiering.ml.learn import build_ours, choose_ours
    from tiering.simulation.replay import replay

    rp = replay(list(iter_records(TRACE, "ibm-cos")), 4800)
    u, refs, reads = usage_from_logs(rp)
    groups = np.array([group_hash(r.tenant, r.key) for r in refs])
    split = int(round(u.t * 0.5))  # as `tiering evaluate` splits
    config = choose_ours(u, groups, reads, CostModel(), split).config
    _, tr = build_ours(u, groups, reads, CostModel(), split, config)
    fb = FeatureBuilder(u, groups, reads)
    rows = [fb.matrix(t, np.zeros(u.n, int), np.zeros(u.n)) for t in range(split, u.t, 10)]
    return tr.clf, np.concatenate(rows), config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    from tiering.actors.predictors import PredictorPool, PredictorWorker, score_batches

    clf, rows, config = real_model_and_rows()
    x = np.ascontiguousarray(np.resize(rows, (a.objects, rows.shape[1])))
    single = PredictorWorker(model=clf, version="bench")
    t = time.perf_counter()
    ref_labels, _ = score_batches([single], x, a.batch)
    single_s = time.perf_counter() - t

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=a.actors, include_dashboard=False, log_to_driver=False)
    # the pool the autopilot's rounds score on, with the actors holding a CPU each
    pool = PredictorPool.start(a.actors, version="bench-ibm", model=clf, num_cpus=1,
                               batch=a.batch)
    pool.score(x[: a.batch])  # warm-up: actors built, model loaded
    startup_s = time.perf_counter() - t
    t = time.perf_counter()
    labels, _, versions = pool.score_versioned(x)
    pool_s = time.perf_counter() - t
    ray.shutdown()
    out = {"objects": a.objects, "actors": a.actors, "batch": a.batch, "cores": os.cpu_count(),
           "model_config": config, "trees": len(clf.estimators_),
           "single_process_s": round(single_s, 3), "pool_s": round(pool_s, 3),
           "single_over_pool": round(single_s / pool_s, 2),
           "pool_startup_s": round(startup_s, 3), "same_labels": bool((labels == ref_labels).all()),
           "model_versions": sorted(versions), "target_s": 5.0, "met": pool_s <= 5.0}
    print(f"{a.objects:,} objects: pool ({a.actors} actors) {pool_s:.3f} s, single process {single_s:.3f} s, "
          f"single/pool {single_s / pool_s:.2f}x; same labels: {out['same_labels']}; "
          f"target <= 5 s with the pool: {'met' if out['met'] else 'MISSED'}")
    print(json.dumps(out, indent=2))
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
