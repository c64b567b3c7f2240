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
label kind, the guard's rate estimator and the dwell time, once for the
objects already there and once for the newcomers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from tiering.domain.clock import DAY_S
from tiering.domain.costs import CostModel
from tiering.ml.features import FEATURES, FeatureBuilder
from tiering.ml.oracle import oracle, schedule_cost
from tiering.ml.policies import RATE_MODES, Ours
from tiering.ml.simulate import run_policy
from tiering.ml.usage import HOT, Prices, Usage, step_components


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
    spd = DAY_S / u.step_s
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
    return max(1, round(days * DAY_S / u.step_s))


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
_HOLD_SETTINGS = {"labels": "horizon", "rate_mode": "busiest", "dwell_days": 7, "rate_days": 30,
                  "hold": True}

# The two classes of object each get their own pick: those already there when
# the model was trained, and the newcomers registered after. They behave
# differently (old blocks go idle for good, new ones are written again in the
# days after), and the folds price each class on its own objects.
ESTABLISHED, NEWCOMERS = "established", "newcomers"


def settings(config: str) -> dict:
    """A candidate's (or ``HOLD``'s) labels and guard settings."""
    return {"hold": False, **(_HOLD_SETTINGS if config == HOLD else CANDIDATES[config])}


def newcomer_candidates(config: str) -> list[str]:
    """What the newcomers' pick is chosen among, beside ``config``: the
    candidates trained on its label kind, so that one forest serves both."""
    labels = settings(config)["labels"]
    return [n for n in CANDIDATES if CANDIDATES[n]["labels"] == labels]


@dataclass
class OursChoice:
    """``choose_ours``'s picks, for the established objects (``config``) and
    the newcomers, and what they were picked on: {class: {candidate: USD per
    validation fold}}."""
    config: str
    newcomer_config: str
    validation_usd: dict[str, dict[str, list[float]]]

    def tied_with(self, cls: str = ESTABLISHED) -> list[str]:
        if cls == ESTABLISHED:
            return tied_with(self.config, self.validation_usd[cls])
        # only the candidates the newcomers' pick was chosen among
        eligible = newcomer_candidates(self.config)
        return [n for n in tied_with(self.newcomer_config, self.validation_usd[cls]) if n in eligible]


def build_ours(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
               config: str, horizon_days: float = 60, seed: int = 0,
               newcomer_config: str | None = None, tr: TrainResult | None = None) -> tuple[Ours, TrainResult]:
    """Ours with ``config``'s forest and guard, and ``newcomer_config``'s guard
    for the objects born at or after ``split``. Both share the one forest, so
    they must share its label kind. ``tr``: that forest, already trained."""
    c = settings(config)
    nc = settings(newcomer_config or config)
    if newcomer_config not in (None, HOLD, *newcomer_candidates(config)):
        raise ValueError(f"{newcomer_config} trains on {nc['labels']} labels, {config} on {c['labels']}")
    tr = tr or train(u, groups, reads, model, split, horizon_days, seed=seed, labels=c["labels"],
                     weighted=WEIGHT_FLOOR)
    guard = lambda s: {k: v for k, v in s.items() if k != "labels"}  # noqa: E731  Ours' own parameters
    return Ours(tr.clf, horizon_days=horizon_days, **guard(c), newcomer=guard(nc),
                newcomers_from=split), tr


def choose_ours(u: Usage, groups: np.ndarray, reads: np.ndarray, model: CostModel, split: int,
                horizon_days: float = 60, seed: int = 0) -> OursChoice:
    """Pick a candidate on the training range only, once for the established
    objects and once for the newcomers. Each validation fold trains on the
    first 3/6 (4/6) of the training range and prices each candidate's schedule
    on the rest of it, carried on to the horizon (``running_cost_to_horizon``),
    object by object: the objects born before the fold's split price the
    established pick, the others the newcomers'. The newcomers' pick shares
    the established pick's label kind (one forest). A pick whose costs do not
    differ from keeping still's on any fold becomes ``HOLD``."""
    head = u.head(split)
    horizon, tail = _steps(u, horizon_days), _steps(u, RATE_TAIL_DAYS)
    folds = []
    for inner in sorted({max(1, split * k // 6) for k in VALIDATION_CUTS}):
        forests: dict[str, TrainResult] = {}  # one per label kind: the guard settings do not change it
        per_object = {}
        for name in (*CANDIDATES, HOLD):
            if name == HOLD:  # keeping still needs no forest here: from hot, nothing ever goes down
                pol = Ours(hold=True)
            else:
                labels = CANDIDATES[name]["labels"]
                pol, forests[labels] = build_ours(head, groups, reads[:, :split], model, inner, name,
                                                  horizon_days, seed, tr=forests.get(labels))
            x, promo = run_policy(pol, head, FeatureBuilder(head, groups, reads[:, :split]), model)
            per_object[name] = (schedule_cost(head, x, model, inner, promo=promo).per_object
                                + running_cost_to_horizon(head, model, x, promo, inner, horizon, tail))
        folds.append((head.birth >= inner, per_object))
    val = {cls: {n: [float(c[n][new if cls == NEWCOMERS else ~new].sum()) for new, c in folds]
                 for n in (*CANDIDATES, HOLD)} for cls in (ESTABLISHED, NEWCOMERS)}
    config = _pick(val[ESTABLISHED], list(CANDIDATES))
    newcomer = _pick(val[NEWCOMERS], newcomer_candidates(config))
    return OursChoice(config, newcomer, val)


def _pick(costs: dict[str, list[float]], names: list[str]) -> str:
    # robust choice: the smallest worst-fold excess over that fold's best, so a
    # candidate that wins one fold big but loses another is not picked
    best = [min(costs[n][k] for n in names) for k in range(len(costs[names[0]]))]
    worst = {n: max(c / max(b, 1e-30) for c, b in zip(costs[n], best)) for n in names}
    pick = min(worst, key=worst.get)
    return HOLD if _same_on_every_fold(costs[pick], costs[HOLD]) else pick


def running_cost_to_horizon(head: Usage, model: CostModel, x: np.ndarray, promo: np.ndarray,
                            inner: int, horizon: int, tail: int) -> np.ndarray:
    """Per object, what the schedule's end state would cost after the fold's
    end, until ``horizon`` steps from ``inner`` or for as many steps again as
    the fold lasted, whichever is sooner: its storage, request and retrieval
    cost per step over the fold's last ``tail`` steps, carried on.

    A move costs its transition at once and pays back over months; a fold
    shorter than the horizon would count the cost in full and only part of
    the return, and so favour the candidates that move least. The carry is
    capped at the fold's own length because what a short fold saw says
    little about the months after it (at the README's example scale an
    uncapped carry picked moves that cost 29 % more than keeping still)."""
    seen = head.t - inner
    short = min(horizon - seen, seen)
    out = np.zeros(head.n)
    if short <= 0:
        return out
    start = max(inner, head.t - tail)
    window = head.since(start)
    per_step = sum(step_components(window, Prices.of(model, head.size)).values())  # (N, steps, K)
    tier = np.where(promo[:, start:], HOT, x[:, start:])  # a promoted object ends the step hot
    rate = np.take_along_axis(per_step, tier[:, :, None], axis=2)[:, :, 0].mean(axis=1)
    alive = window.alive(window.t - 1)
    out[alive] = rate[alive] * short
    return out


def tied_with(pick: str, costs: dict[str, list[float]]) -> list[str]:
    """The other candidates that cost the same as the pick on every fold.
    The training range cannot tell them apart, so the pick among them is only
    the grid's order; reports show them so nobody reads more into the choice."""
    return [n for n in CANDIDATES if n != pick and _same_on_every_fold(costs[n], costs[pick])]


def _same_on_every_fold(a: list[float], b: list[float]) -> bool:
    # equal up to float rounding: a real difference in what was moved is never this small
    return bool(np.allclose(a, b, rtol=1e-9, atol=0))
