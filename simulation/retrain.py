"""One training run, as a job, and register the model.

Two sources of history, one training step: the live event store (every
object's log, as the shards wrote it) or a trace replayed through the domain.
Either way "ours" is trained on the first part and measured on the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from tiering.adapters.model_store import StoredModels
from tiering.domain.clock import DAY_S
from tiering.domain.costs import CostModel
from tiering.ml.features import FEATURES, FeatureBuilder, group_hash
from tiering.ml.history import Replay, usage_from_logs
from tiering.ml.learn import NEWCOMERS, build_ours, choose_ours, horizon_labels
from tiering.simulation.evaluate import BLOCK_FORMATS, Options
from tiering.simulation.replay import replay

Progress = Callable[[str, float], None]


def retrain_from_trace(registry: StoredModels, trace: str | Path, fmt: str, opts: Options,
                       model: CostModel | None = None, csv_mapping: Any = None,
                       progress: Progress | None = None) -> str:
    from tiering.ingest.traces import iter_records

    say = progress or (lambda *_: None)
    kwargs: dict[str, Any] = {"csv_mapping": csv_mapping}
    if fmt in BLOCK_FORMATS:
        kwargs.update(lbn_grain=opts.lbn_grain, block_size=opts.block_size)
    say("reading the trace", 0.0)
    rp = replay(list(iter_records(trace, fmt, **kwargs)), opts.scale, DAY_S, opts.shards,
                lambda i, n: say("replaying through the domain", 0.4 * i / n))
    min_size = opts.lbn_grain * opts.block_size if fmt in BLOCK_FORMATS else 0
    source = {"trace": str(trace), "format": fmt, "scale": opts.scale}
    return _train_and_register(registry, rp, min_size, opts, model or CostModel(), source, say)


def retrain_from_store(registry: StoredModels, app, keys: list[tuple[str, str]],
                       first_event_time: float, event_time: float, opts: Options,
                       model: CostModel | None = None, progress: Progress | None = None) -> str:
    """Train on the live logs: ``app`` is the event store, ``keys`` every
    object the read model knows (deleted ones too), times in event time."""
    steps = max(2, int((event_time - first_event_time) // DAY_S) + 1)
    rp = Replay([app], keys, first_event_time, DAY_S, steps, 1.0, 0, 0)
    source = {"store": "live event log", "from": first_event_time, "to": event_time}
    return _train_and_register(registry, rp, 0, opts, model or CostModel(), source,
                               progress or (lambda *_: None))


def _train_and_register(registry: StoredModels, rp: Replay, min_size: int, opts: Options,
                        model: CostModel, source: dict[str, Any], say: Progress) -> str:
    say("reading usage from the logs", 0.45)
    u, refs, reads = usage_from_logs(rp, min_size)
    groups = np.array([group_hash(r.tenant, r.key) for r in refs])
    split = max(1, min(u.t - 1, int(round(u.t * opts.train_frac))))
    # The same choice and training as ``tiering evaluate`` (ml.learn), on the
    # training range only; the live policy is rebuilt from policy_params.
    say("choosing labels and guard settings", 0.5)
    choice = choose_ours(u, groups, reads, model, split, opts.horizon_days, opts.seed)
    say("training the forest", 0.75)
    policy, tr = build_ours(u, groups, reads, model, split, choice.config, opts.horizon_days, opts.seed,
                            newcomer_config=choice.newcomer_config)
    if tr.clf is None:
        raise ValueError(f"not enough labelled history to train ({tr.rows} rows, labels {tr.label_counts}); "
                         f"{u.n} objects over {u.t} days")
    say("measuring on the holdout", 0.85)
    holdout = _holdout(tr.clf, u, groups, reads, model, split, opts.horizon_days)
    version = registry.save(tr.clf, {
        "training_range": {**source, "steps": [0, split], "objects": u.n},
        "features": list(FEATURES), "holdout": holdout,
        "train": {"rows": tr.rows, "labels": tr.label_counts, "accuracy": tr.train_accuracy},
        "feature_importances": tr.importances, "seed": opts.seed,
        "policy_config": choice.config, "policy_tied_with": choice.tied_with(),
        "policy_newcomer_config": choice.newcomer_config,
        "policy_newcomer_tied_with": choice.tied_with(NEWCOMERS),
        # newcomers: objects registered once the training range had ended
        "policy_params": {"horizon_days": policy.horizon_days, **policy.settings(),
                          "promote_on": policy.promote_on, "promote_priced": policy.promote_priced,
                          "newcomer": policy.newcomer,
                          "newcomers_from_time": rp.origin + split * rp.step_s},
    })
    say(f"registered {version}", 1.0)
    return version


def _holdout(clf, u, groups, reads, model, split, horizon_days) -> dict[str, Any]:
    """Accuracy against the oracle-horizon labels on the steps after the split
    (features computed as if everything stayed hot)."""
    from tiering.ml.usage import Prices

    pr = Prices.of(model, u.size)
    h = round(horizon_days * DAY_S / u.step_s)
    fb = FeatureBuilder(u, groups, reads)
    hits = total = 0
    for t in range(split, u.t - 7, 7):
        labels, rows = horizon_labels(u, pr, t, h, u.t)
        if len(rows):
            x = fb.matrix(t, np.zeros(u.n, int), np.maximum(0, t - u.birth).astype(float), rows)
            hits += int((clf.predict(x) == labels).sum())
            total += len(rows)
    return {"accuracy": hits / total if total else None, "rows": total, "steps": [split, u.t]}
