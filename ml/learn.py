"""Training "ours": features from the history, labels from the oracle.

The label of an object at step t is the tier with the lowest cost over the
next horizon given the accesses that really followed (storage, requests,
retrieval, and the minimum duration still owed at the end of the window);
windows are cut at the end of the training range so nothing leaks from the
evaluation part. Alternatively (``labels="oracle"``) the label is the tier the
offline optimum picks at that step when run over the training range alone,
which also prices transitions and early deletion. Rows are weighted by how
much a wrong tier would cost over the horizon, so the forest spends its splits
on the objects where a mistake is dear (large objects, busy ones) rather than
on the many cheap ones. Training rows are the states the live system would
have been in while it ran the rule fallback (no model yet).

``choose_ours`` then picks, per trace and on the training range only, the
label kind, the guard's rate estimator and the dwell time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from domain.costs import CostModel
from ml.features import FEATURES, FeatureBuilder
from ml.oracle import oracle, schedule_cost
from ml.usage import HOT, Prices, Usage, step_components
from ml.policies import RATE_MODES, Ours
from ml.simulate import run_policy


def horizon_labels(u: Usage, pr: Prices, t: int, h: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, rows) for objects alive through [t, t + h) with t + h <= end (h >= 1)."""
    window, rows = horizon_costs(u, pr, t, h, end)
    return window.argmin(axis=1), rows


def horizon_costs(u: Usage, pr: Prices, t: int, h: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """((R, K) cost of staying in each tier over the horizon, rows)."""
    stop = min(end, t + h)
    rows = np.flatnonzero((u.birth <= t) & (u.death >= stop))
    if stop - t < 1 or not len(rows):
        return np.zeros((0, len(pr.rate))), rows
    comp = step_components(u.subset(rows), pr_subset(pr, rows))
    # a window cut short by the end of the training range is extrapolated to
    # the full horizon, so short windows do not favour hot by construction
    window = sum(comp[c][:, t:stop] for c in comp).sum(axis=1) * (h / (stop - t))  # (R, K)
    owed = np.maximum(0.0, pr.min_s[None, :] - h * u.step_s)
    return window + owed * pr.rate[None, :] * pr.billable[rows], rows


def pr_subset(pr: Prices, rows: np.ndarray) -> Prices:
    return Prices(pr.rate, pr.get, pr.put, pr.retrieval, pr.transition, pr.min_s, pr.billable[rows])


@dataclass
class TrainResult:
    clf: RandomForestClassifier | None
    rows: int
    label_counts: dict[str, int] = field(default_factory=dict)
    train_accuracy: float | None = None
    importances: dict[str, float] = field(default_factory=dict)


def train(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
          horizon_days: float = 60, max_rows: int = 60_000, seed: int = 0,
          min_window_days: float = 7, labels: str = "horizon",
          weighted: float | None = None) -> TrainResult:
    """``weighted``: None trains unweighted; a number w weighs each row by its
    regret (most minus least costly tier over the horizon, over the mean)
    plus w."""
    if labels not in ("horizon", "oracle"):
        raise ValueError("labels must be 'horizon' or 'oracle'")
    pr = Prices.of(model, u.size)
    if labels == "oracle":
        _, xo, _ = oracle(u.head(split), model)
    spd = 86_400.0 / u.step_s
    h = _steps(u, horizon_days)
    fallback, promo = run_policy(Ours(), u.subset(slice(None)), FeatureBuilder(u, groups, reads), model)
    fb = FeatureBuilder(u, groups, reads)
    resid = np.zeros(u.n)
    xs, ys, ws = [], [], []
    for t in range(split):
        fb.advance(t)
        cur = np.where(promo[:, t - 1], 0, fallback[:, t - 1]) if t else np.zeros(u.n, dtype=int)
        cur = np.where(u.birth == t, 0, cur)
        if t and split - t >= min_window_days * spd:
            win, rows = horizon_costs(u, pr, t, h, split)
            y = win.argmin(axis=1)
            if labels == "oracle":
                y = xo[rows, t]
            if len(rows):
                xs.append(fb.matrix(t, cur, resid, rows))
                ys.append(y)
                ws.append(win.max(axis=1) - win.min(axis=1))
        stay = (fallback[:, t] == cur) & (u.birth < t)
        resid = np.where(stay & ~promo[:, t], resid + 1, 1.0)
    if not xs:
        return TrainResult(None, 0)
    return _fit(xs, ys, ws, max_rows, seed, weighted)


def _steps(u: Usage, days: float) -> int:
    return max(1, round(days * 86_400.0 / u.step_s))


def _fit(xs, ys, ws, max_rows, seed, weighted) -> TrainResult:
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:
        keep = rng.choice(len(y), max_rows, replace=False)
        x, y, w = x[keep], y[keep], w[keep]
    w = np.ones_like(w) if weighted is None else w / max(w.mean(), 1e-30) + weighted
    counts = {["hot", "warm", "cold"][k]: int((y == k).sum()) for k in range(3)}
    if len(np.unique(y)) < 2:
        return TrainResult(None, len(y), counts)
    clf = RandomForestClassifier(n_estimators=60, max_depth=14, min_samples_leaf=3,
                                 random_state=seed, n_jobs=1).fit(x, y, sample_weight=w)
    imp = dict(sorted(zip(FEATURES, map(float, clf.feature_importances_)), key=lambda kv: -kv[1]))
    return TrainResult(clf, len(y), counts, float(clf.score(x, y)), imp)


# What "ours" chooses between per trace, on its training range only: the
# label kind, the guard's rate estimator (ml.policies.RATE_MODES) and how long
# an object must stay in a tier before it may go down again. No single choice
# wins on every trace (write-once objects want "settled", periodically busy
# block ranges want "busiest"), hence a choice per trace.
# The estimators that read only recent use (``recent``, ``fresh``) also come
# with a week's window: objects read in a burst and then left alone go down a
# week after it, not a month.
CANDIDATES = {f"{labels}-{mode}{'' if days == 30 else days}-dwell{dwell}":
              {"labels": labels, "rate_mode": mode, "dwell_days": dwell, "rate_days": days}
              for dwell in (7, 3) for mode in RATE_MODES
              for days in ((30, 7) if mode in ("recent", "fresh") else (30,))
              for labels in ("oracle", "horizon")}
VALIDATION_CUTS = (3, 4)  # inner splits at 3/6 and 4/6 of the training range
RATE_TAIL_DAYS = 7  # the days at a fold's end whose running cost is carried on to the horizon
WEIGHT_FLOOR = 0.1  # every row counts a little, the costly mistakes count most


# Keeping still: the forest may still raise objects, nothing goes down. It
# replaces the pick when the pick did nothing different from it on any
# validation fold (a training range too short for an object to go idle, say):
# the pick's moves were never tried on history, so they would be a guess.
HOLD = "hold"
_HOLD_SETTINGS = {"labels": "horizon", "rate_mode": "busiest", "dwell_days": 7, "hold": True}


def build_ours(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
               config: str, horizon_days: float = 60, seed: int = 0) -> tuple[Ours, TrainResult]:
    c = _HOLD_SETTINGS if config == HOLD else CANDIDATES[config]
    tr = train(u, groups, reads, model, split, horizon_days, seed=seed, labels=c["labels"],
               weighted=WEIGHT_FLOOR)
    # the rest of a candidate's settings are Ours' own parameters
    return Ours(tr.clf, horizon_days=horizon_days, **{k: v for k, v in c.items() if k != "labels"}), tr


def choose_ours(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
                horizon_days: float = 60, seed: int = 0) -> tuple[str, dict[str, list[float]]]:
    """Pick a candidate on the training range only. Each validation fold
    trains on the first 3/6 (4/6) of the training range and prices the
    candidate's schedule on the rest of it, carried on to the horizon
    (``running_cost_to_horizon``). Returns (name, costs per fold),
    the name being ``HOLD`` if the pick's costs do not differ from keeping
    still's on any fold."""
    head = u.head(split)
    horizon, tail = _steps(u, horizon_days), _steps(u, RATE_TAIL_DAYS)
    folds = []
    for inner in sorted({max(1, split * k // 6) for k in VALIDATION_CUTS}):
        fold = {}
        for name in (*CANDIDATES, HOLD):
            # keeping still needs no forest here: from hot, nothing ever goes down
            pol = Ours(hold=True) if name == HOLD else build_ours(
                head, groups, reads[:, :split], model, inner, name, horizon_days, seed)[0]
            x, promo = run_policy(pol, head, FeatureBuilder(head, groups, reads[:, :split]), model)
            fold[name] = (schedule_cost(head, x, model, inner, promo=promo).total
                          + running_cost_to_horizon(head, model, x, promo, inner, horizon, tail))
        folds.append(fold)
    costs = {n: [f[n] for f in folds] for n in (*CANDIDATES, HOLD)}
    # robust choice: the smallest worst-fold excess over that fold's best, so a
    # candidate that wins one fold big but loses another is not picked
    best = [min(f[n] for n in CANDIDATES) for f in folds]
    worst = {n: max(f[n] / max(b, 1e-30) for f, b in zip(folds, best)) for n in CANDIDATES}
    pick = min(worst, key=worst.get)
    if _same_on_every_fold(costs[pick], costs[HOLD]):
        return HOLD, costs
    return pick, costs


def running_cost_to_horizon(head: Usage, model: CostModel, x: np.ndarray, promo: np.ndarray,
                            inner: int, horizon: int, tail: int) -> float:
    """What the schedule's end state would cost after the fold's end, until
    ``horizon`` steps from ``inner`` or for as many steps again as the fold
    lasted, whichever is sooner: each object's storage, request and retrieval
    cost per step over the fold's last ``tail`` steps, carried on.

    A move costs its transition at once and pays back over months; a fold
    shorter than the horizon would count the cost in full and only part of
    the return, and so favour the candidates that move least. The carry is
    capped at the fold's own length because what a short fold saw says
    little about the months after it (at the README's example scale an
    uncapped carry picked moves that cost 29 % more than keeping still)."""
    seen = head.t - inner
    short = min(horizon - seen, seen)
    if short <= 0:
        return 0.0
    start = max(inner, head.t - tail)
    window = head.since(start)
    per_step = sum(step_components(window, Prices.of(model, head.size)).values())  # (N, steps, K)
    tier = np.where(promo[:, start:], HOT, x[:, start:])  # a promoted object ends the step hot
    rate = np.take_along_axis(per_step, tier[:, :, None], axis=2)[:, :, 0].mean(axis=1)
    return float(rate[window.alive(window.t - 1)].sum()) * short


def tied_with(pick: str, costs: dict[str, list[float]]) -> list[str]:
    """The other candidates that cost the same as the pick on every fold.
    The training range cannot tell them apart, so the pick among them is only
    the grid's order; reports show them so nobody reads more into the choice."""
    return [n for n in CANDIDATES if n != pick and _same_on_every_fold(costs[n], costs[pick])]


def _same_on_every_fold(a: list[float], b: list[float]) -> bool:
    # equal up to float rounding: a real difference in what was moved is never this small
    return bool(np.allclose(a, b, rtol=1e-9, atol=0))
