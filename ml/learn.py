"""Training "ours": features from the history, labels from the oracle.

The label of an object at step t is the tier with the lowest cost over the
next horizon given the accesses that really followed (storage, requests,
retrieval, and the minimum duration still owed at the end of the window);
windows are cut at the end of the training range so nothing leaks from the
evaluation part. Training rows are the states the live system would have been
in while it ran the rule fallback (no model yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from domain.costs import CostModel
from ml.features import FEATURES, FeatureBuilder
from ml.oracle import Prices, Usage, step_components
from ml.policies import Ours, run_policy


def horizon_labels(u: Usage, pr: Prices, t: int, h: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, rows) for objects alive through [t, t + h) with t + h <= end (h >= 1)."""
    stop = min(end, t + h)
    rows = np.flatnonzero((u.birth <= t) & (u.death >= stop))
    if stop - t < 1 or not len(rows):
        return np.zeros(0, dtype=int), rows
    comp = step_components(u.subset(rows), pr_subset(pr, rows))
    # a window cut short by the end of the training range is extrapolated to
    # the full horizon, so short windows do not favour hot by construction
    window = sum(comp[c][:, t:stop] for c in comp).sum(axis=1) * (h / (stop - t))  # (R, K)
    owed = np.maximum(0.0, pr.min_s[None, :] - h * u.step_s)
    window = window + owed * pr.rate[None, :] * pr.billable[rows]
    return window.argmin(axis=1), rows


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
          min_window_days: float = 7) -> TrainResult:
    pr = Prices.of(model, u.size)
    spd = 86_400.0 / u.step_s
    h = max(1, round(horizon_days * spd))
    fallback = run_policy(Ours(), u.subset(slice(None)), FeatureBuilder(u, groups, reads), model)
    fb = FeatureBuilder(u, groups, reads)
    resid = np.zeros(u.n)
    xs, ys = [], []
    for t in range(split):
        fb.advance(t)
        cur = fallback[:, t - 1] if t else np.zeros(u.n, dtype=int)
        cur = np.where(u.birth == t, 0, cur)
        if t and split - t >= min_window_days * spd:
            labels, rows = horizon_labels(u, pr, t, h, split)
            if len(rows):
                xs.append(fb.matrix(t, cur, resid, rows))
                ys.append(labels)
        stay = (fallback[:, t] == cur) & (u.birth < t)
        resid = np.where(stay, resid + 1, 1.0)
    if not xs:
        return TrainResult(None, 0)
    x, y = np.concatenate(xs), np.concatenate(ys)
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:
        keep = rng.choice(len(y), max_rows, replace=False)
        x, y = x[keep], y[keep]
    counts = {["hot", "warm", "cold"][k]: int((y == k).sum()) for k in range(3)}
    if len(np.unique(y)) < 2:
        return TrainResult(None, len(y), counts)
    clf = RandomForestClassifier(n_estimators=60, max_depth=14, min_samples_leaf=3,
                                 random_state=seed, n_jobs=1).fit(x, y)
    imp = dict(sorted(zip(FEATURES, map(float, clf.feature_importances_)), key=lambda kv: -kv[1]))
    return TrainResult(clf, len(y), counts, float(clf.score(x, y)), imp)


def select_ours(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
                horizon_days: float = 60, seed: int = 0) -> tuple[str, dict[str, float]]:
    """Pick the guard's rate estimator on the training range only: train on
    its first half, price each candidate on its second half."""
    from ml.oracle import schedule_cost
    from ml.policies import RATE_MODES

    inner = max(1, split // 2)
    head = u.head(split)
    tr = train(head, groups, reads[:, :split], model, inner, horizon_days, seed=seed)
    costs = {}
    for mode in RATE_MODES:
        pol = Ours(tr.clf, horizon_days=horizon_days, rate_mode=mode)
        x = run_policy(pol, head, FeatureBuilder(head, groups, reads[:, :split]), model)
        costs[mode] = schedule_cost(head, x, model, inner).total
    return min(costs, key=costs.get), costs
