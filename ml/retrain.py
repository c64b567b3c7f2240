"""One training run, as a job: replay a trace through the domain, train "ours"
on its first part, measure it on the rest, and register the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domain.costs import CostModel
from ml.evaluate import BLOCK_FORMATS, Options
from ml.features import FEATURES, FeatureBuilder, group_hash
from ml.history import DAY_S, replay, usage_from_logs
from ml.learn import horizon_labels, train
from ml.oracle import Prices
from ml.registry import ModelRegistry


def retrain_from_trace(registry: ModelRegistry, trace: str | Path, fmt: str, opts: Options,
                       model: CostModel | None = None, csv_mapping: Any = None) -> str:
    from ingest.traces import iter_records

    model = model or CostModel()
    kwargs: dict[str, Any] = {"csv_mapping": csv_mapping}
    if fmt in BLOCK_FORMATS:
        kwargs.update(lbn_grain=opts.lbn_grain, block_size=opts.block_size)
    rp = replay(list(iter_records(trace, fmt, **kwargs)), opts.scale, DAY_S, opts.shards)
    u, refs, reads = usage_from_logs(rp, opts.lbn_grain * opts.block_size if fmt in BLOCK_FORMATS else 0)
    groups = np.array([group_hash(r.tenant, r.key) for r in refs])
    split = max(1, min(u.t - 1, int(round(u.t * opts.train_frac))))
    tr = train(u, groups, reads, model, split, opts.horizon_days, seed=opts.seed)
    if tr.clf is None:
        raise ValueError(f"not enough labelled history to train ({tr.rows} rows, labels {tr.label_counts})")
    holdout = _holdout(tr.clf, u, groups, reads, model, split, opts.horizon_days)
    return registry.save(tr.clf, {
        "training_range": {"trace": str(trace), "format": fmt, "steps": [0, split], "scale": opts.scale},
        "features": list(FEATURES), "holdout": holdout,
        "train": {"rows": tr.rows, "labels": tr.label_counts, "accuracy": tr.train_accuracy},
        "feature_importances": tr.importances, "seed": opts.seed,
    })


def _holdout(clf, u, groups, reads, model, split, horizon_days) -> dict[str, Any]:
    """Accuracy against the oracle-horizon labels on the steps after the split
    (features computed as if everything stayed hot)."""
    pr = Prices.of(model, u.size)
    h = round(horizon_days * 86_400 / u.step_s)
    fb = FeatureBuilder(u, groups, reads)
    hits = total = 0
    for t in range(split, u.t - 7, 7):
        labels, rows = horizon_labels(u, pr, t, h, u.t)
        if len(rows):
            x = fb.matrix(t, np.zeros(u.n, int), np.maximum(0, t - u.birth).astype(float), rows)
            hits += int((clf.predict(x) == labels).sum())
            total += len(rows)
    return {"accuracy": hits / total if total else None, "rows": total, "steps": [split, u.t]}
