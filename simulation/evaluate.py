"""``tiering evaluate``: replay a trace through the domain, run every policy
over the recorded history, and price them with the one cost model.

Time: trace time is stretched by ``scale`` (billing seconds per trace second)
and cut into steps of one billing day. The first ``train_frac`` of the steps
trains "ours" (all policies run over them too, so tiers carry over); costs
are counted on the remaining steps only. The oracle starts the evaluation
range in whatever tier it likes, for free, so it is a lower bound on every
policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import psutil

from tiering.domain.clock import DAY_S
from tiering.domain.costs import IT_PRICES, CostModel, is_small_object, monitoring_fee_usd
from tiering.domain.records import AccessRecord
from tiering.ingest.traces import iter_records, iter_trace
from tiering.ml.features import FeatureBuilder, group_hash
from tiering.ml.history import usage_from_logs
from tiering.ml.learn import NEWCOMERS, build_ours, choose_ours
from tiering.ml.oracle import ScheduleCost, oracle, schedule_cost
from tiering.ml.policies import AlwaysHot, Autoclass, IntelligentTiering, Lifecycle, Seed
from tiering.ml.simulate import run_policy
from tiering.ml.usage import COLD, WARM
from tiering.simulation.replay import replay

POLICIES = ("always-hot", "lifecycle-30-90", "s3-intelligent-tiering", "gcs-autoclass",
            "seed-rf", "ours", "oracle")
BLOCK_FORMATS = ("cloudphysics", "msr", "systor")
_RULES = {"always-hot": AlwaysHot, "lifecycle-30-90": Lifecycle,
          "s3-intelligent-tiering": IntelligentTiering, "gcs-autoclass": Autoclass, "seed-rf": Seed}


# Bytes per (object, day) cell at the peak of a run with every policy: usage
# arrays, the features' windows, the oracle's per-tier tables. Measured on the
# IBM COS trace (1,511 objects) at 181 and 721 days: peak RSS 296 and 507 MB,
# about 260 bytes per added cell; 300 leaves a margin.
GRID_CELL_BYTES = 300
MIN_DISTINCT_TIMES = 10  # fewer distinct seconds than this: time says little


@dataclass
class Options:
    scale: float = 720.0            # 1 trace hour = 30 billing days
    days: float | None = None       # stretch the trace to span this many days (overrides scale)
    memory_bytes: int | None = None  # the grid's budget; None: 80 % of what is free now
    train_frac: float = 0.5
    lbn_grain: int = 2048
    block_size: int = 512
    shards: int = 2
    seed: int = 0
    horizon_days: float = 60


def check_policies(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise ValueError(f"unknown policy {bad[0]!r}; expected some of {', '.join(POLICIES)}")
    return list(dict.fromkeys(["always-hot", *names, "oracle"]))


def evaluate(path, fmt: str, opts: Options, policies: Sequence[str] = POLICIES,
             model: CostModel | None = None, csv_mapping: Any = None, tenant: str = "default",
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    names = check_policies(policies)
    if opts.scale <= 0 or not 0 < opts.train_frac < 1:
        raise ValueError("scale must be > 0 and train_frac in (0, 1)")
    model = model or CostModel()
    say = progress or (lambda *a: None)
    bad = [0]
    kwargs: dict[str, Any] = {"tenant": tenant, "csv_mapping": csv_mapping}
    if fmt in BLOCK_FORMATS:
        kwargs.update(lbn_grain=opts.lbn_grain, block_size=opts.block_size)
    check_fits(path, fmt, **kwargs)
    records = list(iter_records(path, fmt, on_bad=lambda b: bad.__setitem__(0, bad[0] + 1), **kwargs))
    if not records:
        raise ValueError(f"no line of {Path(path).name} is a valid {fmt} record")
    span = max(r.ts for r in records) - min(r.ts for r in records)
    if opts.days is not None:
        if span <= 0:
            raise ValueError("--days needs a trace whose records span some time; they all share one instant")
        opts = replace(opts, scale=opts.days * DAY_S / span)
    check_grid(len({(r.tenant, r.key) for r in records}), span * opts.scale / DAY_S + 1, opts)
    rp = replay(records, opts.scale, DAY_S, opts.shards, lambda i, n: say("replay", i, n))
    min_size = opts.lbn_grain * opts.block_size if fmt in BLOCK_FORMATS else 0
    u, refs, reads = usage_from_logs(rp, min_size)
    groups = np.array([group_hash(r.tenant, r.key) for r in refs])
    split = max(1, min(u.t - 1, int(round(u.t * opts.train_frac))))
    out: dict[str, Any] = {
        "trace": str(path), "format": fmt, "scale": opts.scale,
        "scale_note": f"1 trace hour = {opts.scale * 3600 / DAY_S:g} billing days",
        "records": rp.records, "bad_lines": bad[0], "events": rp.events, "objects": u.n,
        "steps": u.t, "step_days": 1, "train_steps": [0, split], "eval_steps": [split, u.t],
        "lbn_grain": opts.lbn_grain if fmt in BLOCK_FORMATS else None, "policies": {},
        "degenerate": degenerate(records, u, split),
    }
    schedules: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        say(f"policy {name}", i, len(names))
        if name == "oracle":
            _, x, promo = oracle(u, model, t0=split)
            cost = schedule_cost(u, x, model, split, free_start=True, promo=promo)
        else:
            if name == "ours":
                choice = choose_ours(u, groups, reads, model, split, opts.horizon_days, opts.seed)
                pol, tr = build_ours(u, groups, reads, model, split, choice.config, opts.horizon_days,
                                     opts.seed, newcomer_config=choice.newcomer_config)
                out["ours_training"] = {"config": choice.config, "tied_with": choice.tied_with(),
                                        "newcomer_config": choice.newcomer_config,
                                        "newcomer_tied_with": choice.tied_with(NEWCOMERS),
                                        "validation_usd": choice.validation_usd,
                                        "rows": tr.rows, "labels": tr.label_counts,
                                        "train_accuracy": tr.train_accuracy,
                                        "model": tr.clf is not None,
                                        "top_features": dict(list(tr.importances.items())[:5])}
            else:
                pol = _RULES[name]()
            x, promo = run_policy(pol, u, FeatureBuilder(u, groups, reads), model)
            cost = schedule_cost(u, x, model, split, promo=promo)
            if name == "ours":
                out["ours_training"]["decisions"] = pol.reasons
        schedules[name] = (x, promo)
        out["policies"][name] = _row(cost)
    say("done", len(names), len(names))
    hot = out["policies"]["always-hot"]["total_usd"]
    best = out["policies"]["oracle"]["total_usd"]
    for row in out["policies"].values():
        row["savings_captured"] = None if hot - best <= 0 else (hot - row["total_usd"]) / (hot - best)
        # the competitive ratio of the online-tiering literature: when always-hot
        # is already close to the oracle, savings captured magnifies small gaps
        row["cost_vs_oracle"] = None if best <= 0 else row["total_usd"] / best
    if "s3-intelligent-tiering" in schedules:
        out["s3_it_bill"] = it_bill(u, *schedules["s3-intelligent-tiering"], split)
    if "ours_training" in out and not out["ours_training"]["model"]:
        out["degenerate"].append("no model was trained (too few labelled rows): ours ran on its rules")
    return out


def check_fits(path, fmt: str, sample: int = 200, **kwargs: Any) -> None:
    """ValueError at once if the file's first lines are not ``fmt`` at all (none
    of the first ``sample`` non-blank lines is a record): before any heavy work."""
    seen, first_bad = 0, None
    for item in iter_trace(path, fmt, **kwargs):
        if type(item) is AccessRecord:
            return
        first_bad = first_bad or item
        seen += 1
        if seen >= sample:
            break
    if first_bad is not None:
        raise ValueError(f"{Path(path).name} does not look like a {fmt} trace: none of its first {seen} lines "
                         f"is a record (line {first_bad.line_no}: {first_bad.reason})")


def check_grid(objects: int, days: float, opts: Options) -> None:
    """ValueError, saying what would fit, if objects x days would not fit in memory."""
    budget = opts.memory_bytes or int(psutil.virtual_memory().available * 0.8)
    need = objects * math.ceil(days) * GRID_CELL_BYTES
    if need <= budget:
        return
    fit_days = budget // (objects * GRID_CELL_BYTES)
    fit_objects = budget // (math.ceil(days) * GRID_CELL_BYTES)
    raise ValueError(f"{objects:,} objects over {math.ceil(days):,} days need about {need / 2**30:,.1f} GiB; "
                     f"{budget / 2**30:,.1f} GiB are free: at most {fit_days:,} days fit for these objects "
                     f"(--days), or {fit_objects:,} objects over these days (block traces: a larger --lbn-grain)")


def degenerate(records: Sequence[AccessRecord], u, split: int) -> list[str]:
    """What makes a run say little, in words for the summary."""
    notes = []
    distinct = len({int(r.ts) for r in records})
    if distinct < MIN_DISTINCT_TIMES:
        notes.append(f"only {distinct} distinct second(s) of trace time: the stretch gives days, not history")
    if not u.gets[:, split:].any() and not u.puts[:, split:].any():
        notes.append("no access on the evaluation days: every policy is priced on storage alone")
    return notes


def _row(c: ScheduleCost) -> dict[str, Any]:
    gb = c.get_bytes_by_tier
    total_gb = float(gb.sum())
    return {"total_usd": c.total, "breakdown_usd": dict(c.components), "moves": c.moves,
            "get_bytes_warm_cold_share": 0.0 if total_gb == 0 else float((gb[WARM] + gb[COLD]) / total_gb)}


def it_bill(u, x, promo, split: int) -> dict[str, Any]:
    """S3 Intelligent-Tiering at its own prices, plus its monitoring fee."""
    c = schedule_cost(u, x, CostModel(dict(IT_PRICES)), split, promo=promo)
    alive_steps = sum(int((u.alive(t) & ~is_small_object(u.size)).sum()) for t in range(split, u.t))
    fee = monitoring_fee_usd(alive_steps, u.step_s)
    return {"total_usd": c.total + fee, "monitoring_fee_usd": fee, "breakdown_usd": dict(c.components)}
