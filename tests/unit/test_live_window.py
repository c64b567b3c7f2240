"""A live decision reads a window of recent steps plus a summary of the rest: the same
features, rates and decisions as the whole grid, in memory bounded by the window."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from tiering.domain.application import ObjectLogApplication
from tiering.domain.costs import CostModel
from tiering.domain.records import AccessRecord, Op
from tiering.ml.features import FeatureBuilder
from tiering.ml.live import decide_objects, live_usage
from tiering.ml.live_usage import WINDOW_DAYS
from tiering.ml.policies import RATE_MODES, Autoclass, IntelligentTiering, Ours, Seed
from tiering.ml.usage import TIERS

DAY = 86_400.0
T0 = 1_767_225_600.0
ROOT = Path(__file__).resolve().parents[2]


def _estate(n: int = 80, span_days: int = 400, seed: int = 3):
    """Objects born across ``span_days`` with bursts, lulls and single late reads."""
    rng = random.Random(seed)
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    records = []
    for i in range(n):
        born = T0 + rng.uniform(0, span_days - 5) * DAY
        records.append(AccessRecord(born, "t1", f"k{i}", Op.PUT, rng.choice([4096, 2 ** 20, 2 ** 27])))
        for _ in range(rng.choice([0, 1, 3, 12])):
            at = born + rng.uniform(0, T0 + span_days * DAY - born) * 0.999
            records.append(AccessRecord(at, "t1", f"k{i}", Op(rng.choice(["GET", "GET", "HEAD", "PUT"])),
                                        None, rng.uniform(1, 90)))
    records.sort(key=lambda r: r.ts)
    for b in range(0, len(records), 37):
        app.ingest(records[b:b + 37], f"b{b}")
    return app, [("t1", f"k{i}") for i in range(n)], T0 + span_days * DAY


def test_a_windowed_grid_gives_the_whole_grids_features_rates_and_decisions():
    app, keys, now = _estate()
    whole = live_usage(app, keys, now, window_days=10 ** 6)
    window = live_usage(app, keys, now)
    assert whole.usage.prior is None and whole.usage.t > 300
    assert window.usage.t == WINDOW_DAYS + 1 and window.usage.prior is not None
    assert (window.usage.birth < 0).sum() > len(keys) // 2  # most were born before the window

    built = []
    for lu in (whole, window):
        fb = FeatureBuilder(lu.usage, np.zeros(lu.usage.n), lu.reads)
        t = lu.usage.t - 1
        cur = np.array([TIERS.index(o.tier) for o in lu.objects])
        fb.advance(t)
        out = {"matrix": fb.matrix(t, cur, lu.resid_steps),
               **{f"idle_{w}": fb.idle_days(t, w) for w in ("any", "touch", "read")},
               **{f"life_{w}": fb.window(t, 10 ** 6, w) for w in ("gets", "puts", "bytes", "active")}}
        ours = Ours()
        ours.prepare(lu.usage, fb, CostModel())
        for mode in RATE_MODES:
            for days in (7, 30):
                out[f"{mode}{days}"] = ours.step_cost_at_rates(t, mode, days)
        built.append(out)
    for name in built[0]:
        np.testing.assert_allclose(built[1][name], built[0][name], rtol=1e-9, atol=1e-12, err_msg=name)

    for policy in (IntelligentTiering, Autoclass, Ours, Seed):
        decided = [[(d.key, d.target, d.reasons) for d in decide_objects(app, keys, policy(), now, window_days=w)]
                   for w in (10 ** 6, WINDOW_DAYS)]
        assert decided[0] == decided[1]
        assert decided[0], "the estate must hold objects a policy moves"


def test_a_round_over_fifty_years_of_history_stays_within_its_memory_bound():
    """100,000 objects registered across 50 years, decided in pages of 10,000: the
    process grows by less than 256 MiB. The whole grid would have needed about
    8.8 GB per page (10,000 objects x 18,262 days x 6 float64 fields)."""
    run = subprocess.run([sys.executable, "-m", "tests.support.round_memory", "--objects", "100000",
                          "--years", "50", "--page", "10000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=580, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["decided_objects"] == 100_000
    assert got["moves"] > 50_000  # idle for years: most go down
    assert got["peak_growth_mib"] < 256, got
