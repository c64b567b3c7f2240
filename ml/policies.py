"""Every tiering policy, in one place, for the simulator and the live system.

A policy sees the objects' features before step ``t`` (``FeatureBuilder``),
their current tier and steps spent in it, and returns the tier each object
should be in during step ``t``. ``ml.simulate.run_policy`` drives one over a whole usage
history; the oracle (ml.oracle) is the offline optimum, not a Policy.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tiering.domain.costs import CostModel, is_small_object
from tiering.ml.features import FeatureBuilder
from tiering.ml.usage import COLD, HOT, WARM, Prices, Usage

AUTOCLASS_MIN_BYTES = 128 * 1024  # GCS Autoclass keeps objects under 128 KiB in Standard


class Policy:
    name = "policy"
    # promote on access: None, "touch" (a GET or PUT) or "read" (a GET) brings
    # an object in warm or cold back to hot at once (ml.usage.promoted_step)
    promote_on: str | None = None
    # whether a promotion must pay for itself first (ml.usage.promotion_pays)
    promote_priced = False

    def prepare(self, u: Usage, fb: FeatureBuilder, model: CostModel) -> None:
        self.u, self.fb, self.model = u, fb, model

    def decide(self, t: int, cur: np.ndarray, resid: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def idle_rule(idle_days: np.ndarray, warm_days: float = 30, cold_days: float = 90) -> np.ndarray:
    return np.where(idle_days >= cold_days, COLD, np.where(idle_days >= warm_days, WARM, HOT))


class AlwaysHot(Policy):
    name = "always-hot"

    def decide(self, t, cur, resid):
        return np.full_like(cur, HOT)


class Lifecycle(Policy):
    """Age-based rule: warm at 30 days of age, cold at 90, whatever the accesses."""
    name = "lifecycle-30-90"

    def decide(self, t, cur, resid):
        age_days = (t - self.u.birth) / self.fb.steps_per_day
        return idle_rule(age_days)


class IntelligentTiering(Policy):
    """S3 IT: 30 days without GET/PUT -> infrequent, 90 -> archive instant;
    any GET/PUT brings it back at once; objects of 128 KB or less are never tiered."""
    name = "s3-intelligent-tiering"
    promote_on = "touch"

    def decide(self, t, cur, resid):
        tier = idle_rule(self.fb.idle_days(t, "touch"))
        return np.where(is_small_object(self.u.size), HOT, tier)


class Autoclass(Policy):
    """GCS Autoclass: Nearline after 30 days without a read, Coldline at 90
    (Archive at 365 maps to our cold too); a read brings it back to Standard
    at once; objects under 128 KiB stay in Standard."""
    name = "gcs-autoclass"
    promote_on = "read"

    def decide(self, t, cur, resid):
        tier = idle_rule(self.fb.idle_days(t, "read"))
        return np.where(self.u.size < AUTOCLASS_MIN_BYTES, HOT, tier)


# ----- the seed system ---------------------------------------------------------
_SEED_RANGES = {  # accesses per 7 days, latency ms, size bytes (tiering-facts.md)
    HOT: ((50, 1000), (1, 50), (1024, 10 * 2 ** 30)),
    WARM: ((10, 60), (50, 200), (100 * 2 ** 20, 50 * 2 ** 30)),
    COLD: ((0, 15), (200, 1000), (2 ** 30, 100 * 2 ** 30)),
}
_SEED_TIER_LATENCY = np.array([25.0, 125.0, 600.0])  # mid-range: the seed's latency leak


def seed_model(seed: int = 42):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for cls, ranges in _SEED_RANGES.items():
        xs.append(np.stack([rng.uniform(lo, hi, 150) for lo, hi in ranges], axis=1))
        ys.append(np.full(150, cls))
    clf = make_pipeline(StandardScaler(), RandomForestClassifier(
        n_estimators=100, max_depth=10, class_weight="balanced", random_state=42, n_jobs=1))
    return clf.fit(np.concatenate(xs), np.concatenate(ys))


class Seed(Policy):
    """RF on synthetic data (7-day accesses, mean latency, size); moves
    whenever the prediction differs. Latency is the observed mean when the
    trace has one, else the current tier's typical latency (as the seed did)."""
    name = "seed-rf"

    def __init__(self):
        self.clf = seed_model()

    def decide(self, t, cur, resid):
        fb, u = self.fb, self.u
        acc7 = fb.window(t, 7, "gets") + fb.window(t, 7, "puts")
        lat = _SEED_TIER_LATENCY[cur]
        if u.lat_n is not None:
            n = fb.u.lat_n[:, :t].sum(axis=1) + u.total_before("lat_n")
            lat_sum = u.lat_sum[:, :t].sum(axis=1) + u.total_before("lat_sum")
            lat = np.where(n > 0, lat_sum / np.maximum(n, 1), lat)
        return self.clf.predict(np.stack([acc7, lat, u.size], axis=1)).astype(int)


# the guard's estimators (see Ours.expected_step_cost); a tie picks the first (safer) one
RATE_MODES = ("busiest", "recent", "settled", "fresh")


# ----- ours --------------------------------------------------------------------
class Ours(Policy):
    """RF on event-history features, trained on oracle labels; rule fallback
    when there is no model or it is unsure; recent use pulls an object up
    whatever the model says; every move passes a cost guard, with hysteresis
    and a dwell time; an object in warm or cold comes back to hot at its first
    GET or PUT (as S3 Intelligent-Tiering does), so a wrong "cold" costs one
    access at the cold price, not a day's worth. ml.learn.choose_ours picks the
    labels, the guard's rate estimator and the dwell per trace, on training
    days only, and a second set of guard settings for newcomers."""
    name = "ours"

    def __init__(self, clf=None, horizon_days: float = 60, min_confidence: float = 0.6,
                 dwell_days: float = 7, up_margin: float = 1.5, rate_days: float = 30,
                 rate_mode: str = "busiest", promote_on: str | None = "touch",
                 hold: bool = False, promote_priced: bool = True,
                 newcomer: dict | None = None, newcomers_from: int | None = None,
                 newcomers_from_time: float | None = None):
        self.clf = clf
        self.horizon_days, self.min_confidence = horizon_days, min_confidence
        self.dwell_days, self.up_margin, self.rate_days = dwell_days, up_margin, rate_days
        if rate_mode not in RATE_MODES:
            raise ValueError(f"rate_mode must be one of {RATE_MODES}")
        self.rate_mode = rate_mode
        if promote_on not in (None, "touch", "read"):
            raise ValueError("promote_on must be None, 'touch' or 'read'")
        self.promote_on, self.promote_priced = promote_on, promote_priced
        # hold: never move an object down (ml.learn.choose_ours keeps still
        # when its pick did nothing on the training range's validation folds)
        self.hold = hold
        # The guard's settings for newcomers, the objects registered once the
        # model's training range had ended (ml.learn.choose_ours picks them on
        # the objects born inside each validation fold): rate_mode, rate_days,
        # dwell_days, hold. Newcomers are those born at or after step
        # ``newcomers_from``; the live system marks them by registration time
        # instead (``newcomers_from_time``, event time; ``mark_newcomers``).
        self.newcomer = {**self.settings(), **(newcomer or {})}
        if set(self.newcomer) != set(self.settings()):
            raise ValueError(f"newcomer settings are {sorted(self.settings())}, got {sorted(newcomer)}")
        if self.newcomer["rate_mode"] not in RATE_MODES:
            raise ValueError(f"newcomer rate_mode must be one of {RATE_MODES}")
        self.newcomers_from, self.newcomers_from_time = newcomers_from, newcomers_from_time
        self.newcomers = None  # (N,) bools, set by prepare
        self.scorer = None  # callable x -> (labels, confidence); None scores with clf
        self.scored = None  # (rows, labels, confidence) of the last decide's scoring
        self.reasons: dict[str, int] = {}

    def settings(self) -> dict:
        """The guard's settings for the objects that are not newcomers."""
        return {"rate_mode": self.rate_mode, "rate_days": self.rate_days,
                "dwell_days": self.dwell_days, "hold": self.hold}

    def prepare(self, u, fb, model):
        super().prepare(u, fb, model)
        self.pr = Prices.of(model, u.size)
        self.reasons = {"model": 0, "fallback": 0, "guard_blocked": 0, "dwell_blocked": 0}
        self.mark_newcomers(np.zeros(u.n, dtype=bool) if self.newcomers_from is None
                            else u.birth >= self.newcomers_from)

    def mark_newcomers(self, newcomers: np.ndarray) -> None:
        self.newcomers = np.asarray(newcomers, dtype=bool)

    def fallback(self, t, cur):
        fb = self.fb
        tier = idle_rule(fb.idle_days(t, "touch"))
        recent = fb.window(t, 7, "gets") + fb.window(t, 7, "puts") > 0
        # recent use brings it up; otherwise idle time only ever moves it down
        return np.where(recent, HOT, np.maximum(tier, cur))

    def expected_step_cost(self, t):
        """(N, K) cost of one step in each tier at the expected access rates,
        each object by its own class's estimator (``step_cost_at_rates``)."""
        cost = self.step_cost_at_rates(t, self.rate_mode, self.rate_days)
        nc = self.newcomer
        if self.newcomers.any() and (nc["rate_mode"], nc["rate_days"]) != (self.rate_mode, self.rate_days):
            cost[self.newcomers] = self.step_cost_at_rates(t, nc["rate_mode"], nc["rate_days"])[self.newcomers]
        return cost

    def step_cost_at_rates(self, t, rate_mode, rate_days):
        """(N, K) cost of one step in each tier at the expected access rates:
        ``recent`` is the last month's rate; ``busiest`` the highest of the
        last week's, the last month's and the lifetime rate; ``settled`` the
        higher of the last month's and the lifetime rate, and ``fresh`` the
        last month's, both leaving out the object's first day."""
        fb, pr = self.fb, self.pr
        span = np.clip((t - self.u.birth) / fb.steps_per_day, 1, rate_days) * fb.steps_per_day
        age = np.maximum(t - self.u.birth, 1).astype(float)
        week = np.clip(age, 1, 7 * fb.steps_per_day)
        # the busiest of the last week, the last month and the whole life: a
        # quiet spell does not make a periodically busy object look idle
        if rate_mode == "recent":
            rate = lambda what: fb.window(t, rate_days, what) / span  # noqa: E731
        elif rate_mode in ("fresh", "settled"):
            # like ``busiest`` (last month, whole life) but leaving out the
            # first day: many objects are written (or first fetched) in a
            # burst and then left alone, and the burst says nothing of later
            first = np.clip(self.u.birth, 0, self.u.t - 1)
            after = t > first
            in_win = after & ((t - self.u.birth) <= rate_days * fb.steps_per_day)
            at_birth = {"gets": self.u.at_birth("gets"), "puts": self.u.at_birth("puts"),
                        "bytes": self.u.at_birth("get_bytes")}
            month = lambda what: ((fb.window(t, rate_days, what)  # noqa: E731
                                   - in_win * at_birth[what]) / np.maximum(span - in_win, 1))
            life = lambda what: ((fb.window(t, 10 ** 6, what)  # noqa: E731
                                  - after * at_birth[what]) / np.maximum(age - 1, 1))
            rate = month if rate_mode == "fresh" else (  # noqa: E731
                lambda what: np.maximum(month(what), life(what)))
        else:
            rate = lambda what: np.maximum.reduce([  # noqa: E731
                fb.window(t, 7, what) / week, fb.window(t, rate_days, what) / span,
                fb.window(t, 10 ** 6, what) / age])
        g, p, b = rate("gets"), rate("puts"), rate("bytes")
        return (pr.billable * pr.rate * self.u.step_s + g[:, None] * pr.get + p[:, None] * pr.put
                + b[:, None] * pr.retrieval)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence) for feature rows ``x``. The live system swaps in
        the predictor pool here (``scorer``); the simulator scores in-process."""
        if self.scorer is not None:
            return self.scorer(x)
        proba = self.clf.predict_proba(x)
        return self.clf.classes_[proba.argmax(axis=1)], proba.max(axis=1)

    def decide(self, t, cur, resid):
        want = self.fallback(t, cur)
        self.scored = None
        if self.clf is not None or self.scorer is not None:
            alive = np.flatnonzero(self.u.alive(t))
            if len(alive):
                labels, conf = self.score(self.fb.matrix(t, cur, resid, alive))
                self.scored = (alive, labels, conf)  # what the model said, for reasons
                sure = conf >= self.min_confidence
                # recent use pulls an object up whatever the model says (the
                # guard still prices the move): a wrong "cold" is then bounded
                # by one move, not by every later read's retrieval fee
                sure &= ~(want[alive] < cur[alive])
                want[alive[sure]] = labels[sure]
                self.reasons["model"] += int(sure.sum())
                self.reasons["fallback"] += int((~sure).sum())
        return self.guard(t, cur, resid, want)

    def guard(self, t, cur, resid, want):
        """Move only if the saving over the horizon beats what the move costs."""
        move = np.flatnonzero(want != cur)
        if not len(move):
            return want
        out = cur.copy()
        c = self.expected_step_cost(t)[move]
        h = self.horizon_days * self.fb.steps_per_day
        src, dst = cur[move], want[move]
        saving = h * (c[np.arange(len(move)), src] - c[np.arange(len(move)), dst])
        cost = self.pr.transition[dst] + self.pr.early_deletion(src, resid[move], self.u.step_s, move)
        # the target's own minimum duration is owed even if we leave early
        cost += np.maximum(0, self.pr.min_s[dst] - h * self.u.step_s) * self.pr.rate[dst] \
            * self.pr.billable[move, dst]
        margin = np.where(dst < src, self.up_margin, 1.0)  # hysteresis: going up needs more
        new = self.newcomers[move]
        hold = np.where(new, self.newcomer["hold"], self.hold)
        ok = (saving > margin * cost) & ~(hold & (dst > src))
        dwell_days = np.where(new, self.newcomer["dwell_days"], self.dwell_days)
        dwell = resid[move] >= dwell_days * self.fb.steps_per_day
        ok_dwell = ok & (dwell | (dst < src))
        self.reasons["guard_blocked"] += int((~ok).sum())
        self.reasons["dwell_blocked"] += int((ok & ~ok_dwell).sum())
        out[move[ok_dwell]] = dst[ok_dwell]
        return out
