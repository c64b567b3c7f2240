"""The live side of ml.policies: decide for a batch of objects from their own logs.

The same Policy classes the evaluator runs see the objects' histories (read
from their events with ml.history's fold, on a common step grid) and their
current tiers, at one instant of event time. ``decide_objects`` returns the
decisions that would change a tier, with a score and reasons a person can
read; the caller (a shard, ``shards.decision_round``) records them in the logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import DAY_S
from tiering.domain.costs import CostModel
from tiering.domain.model import StoredObject
from tiering.domain.tiers import Tier
from tiering.ml.features import FEATURES, FeatureBuilder, group_hash
from tiering.ml.history import window_requests
from tiering.ml.live_usage import WINDOW_DAYS, windowed_usage
from tiering.ml.policies import Ours, Policy
from tiering.ml.usage import HOT, TIERS, Prices, Usage, access_premium, promotion_pays, promotion_price


@dataclass
class LiveDecision:
    tenant: str
    key: str
    current: str
    target: str
    score: float
    reasons: list[str] = field(default_factory=list)
    recorded: bool = False


@dataclass
class TierEntries:
    """Per object: when it entered its tier, and the newest access since then
    (or since the last promotion asked for) that would promote it, by trigger;
    and, to price a promotion, the (GETs, PUTs, bytes read) since then and
    those of its typical day with an access."""
    entered: np.ndarray
    accessed_since: dict[str, np.ndarray]
    used_since: np.ndarray   # (N, 3)
    typical_day: np.ndarray  # (N, 3)

    @classmethod
    def of(cls, objs: Sequence["ObjectFacts"], logs: Sequence[Sequence]) -> "TierEntries":
        found = [_tier_entry(evs, o.registered_at) for o, evs in zip(objs, logs)]
        accessed = {trigger: np.array([f[1][trigger] for f in found], dtype=float)
                    for trigger in PROMOTING_OPS}
        use = lambda k: np.array([f[k] for f in found], dtype=float).reshape(len(found), 3)  # noqa: E731
        return cls(np.array([f[0] for f in found], dtype=float), accessed, use(2), use(3))

    def promotable(self, promote_on: str | None, tiers: np.ndarray) -> np.ndarray:
        """Objects in warm or cold (``tiers``, indices into TIERS) that an
        access has asked back to hot."""
        if promote_on is None:
            return np.zeros(len(tiers), dtype=bool)
        return (tiers > HOT) & ~np.isnan(self.accessed_since[promote_on])


@dataclass(frozen=True)
class ObjectFacts:
    """What a decision needs of an object besides its usage: small enough to
    travel from the shard that read it to wherever the policy runs."""
    object_id: str
    tenant: str
    key: str
    tier: Tier
    size: int
    registered_at: float
    version: int
    recommendation: dict[str, Any] | None
    operator_move: dict[str, Any] | None = None  # the last move an operator asked for

    @classmethod
    def of(cls, obj: StoredObject) -> "ObjectFacts":
        return cls(str(obj.id), obj.tenant, obj.key, obj.tier, obj.size, obj.registered_at,
                   obj.version, obj.recommendation, obj.operator_move)


@dataclass
class LiveUsage:
    usage: Usage
    reads: np.ndarray
    objects: list[ObjectFacts]
    resid_steps: np.ndarray  # steps each object has spent in its current tier
    entries: TierEntries


@dataclass
class Observed:
    """One group of objects as their logs show them at event time ``now``:
    what a shard hands out so that the policy can run elsewhere. ``usage`` is
    None when only promotions are asked for (no usage grid is needed)."""
    now: float
    objects: list[ObjectFacts]
    entries: TierEntries
    usage: LiveUsage | None


def _idle_objects(app: ObjectLogApplication, keys: Sequence[tuple[str, str]]):
    """The live objects among ``keys`` with no move in flight, and their logs."""
    objs = []
    for tenant, key in keys:
        obj = app.current(tenant, key)
        if obj is not None and not obj.is_deleted and obj.move is None:
            objs.append(obj)
    return [ObjectFacts.of(o) for o in objs], [list(app.events.get(o.id)) for o in objs]


def observe(app: ObjectLogApplication, keys: Sequence[tuple[str, str]], now: float, *,
            step_s: float = DAY_S, promotions_only: bool = False,
            window_days: float = WINDOW_DAYS) -> Observed | None:
    """Read ``keys``' logs for a decision at ``now``; None if none is idle."""
    if promotions_only:
        # no usage grid: whether an access came after the move is in the log
        objs, logs = _idle_objects(app, keys)
        if not objs:
            return None
        return Observed(now, objs, TierEntries.of(objs, logs), None)
    lu = live_usage(app, keys, now, step_s, window_days)
    return None if lu is None else Observed(now, lu.objects, lu.entries, lu)


def live_usage(app: ObjectLogApplication, keys: Sequence[tuple[str, str]], now: float,
               step_s: float = DAY_S, window_days: float = WINDOW_DAYS) -> LiveUsage | None:
    """Usage of the live, idle (no move in flight) objects among ``keys`` at ``now``:
    the last ``window_days`` as a grid, older history summed up
    (``ml.live_usage.windowed_usage``)."""
    objs, logs = _idle_objects(app, keys)
    if not objs:
        return None
    u, reads = windowed_usage(logs, [o.registered_at for o in objs], [o.size for o in objs], now,
                              step_s, window_days)
    entries = TierEntries.of(objs, logs)
    resid = np.maximum(0.0, now - entries.entered) / step_s
    return LiveUsage(u, reads, objs, resid, entries)


# the ops that promote an object, as ml.features counts them for the simulator
PROMOTING_OPS = {"touch": ("GET", "PUT", "COPY"), "read": ("GET",)}


def _tier_entry(evs: Sequence, registered_at: float) -> tuple:
    """(event time at which the object entered its tier; per trigger the
    event time of the newest window with one of its ops after that and after
    any promotion already asked for, NaN if none; the (GETs, PUTs, bytes read)
    of the windows since then; those of a typical day with an access), in one
    pass over the log. Unlike the simulator, which decides at a day's first
    access, the live system counts the accesses that ask for the promotion.

    A move counts from its commit's event time. A commit recorded before
    steps were stamped in event time has none: it counts from the decision
    that asked for it, or else from the newest access before it."""
    entered = seen = registered_at
    asked: dict[str, float] = {}
    promoted_at = -np.inf
    newest = dict.fromkeys(PROMOTING_OPS, -np.inf)
    windows, days = [], set()
    for e in evs:
        kind = type(e).__name__
        if kind == "AccessesRecorded":
            seen = max(seen, e.last_ts)
            use = (*window_requests(e.counts), e.bytes_read)
            windows.append((e.last_ts, use))
            if use[0] or use[1]:
                days.add(int((e.first_ts - registered_at) // DAY_S))
            for trigger, ops in PROMOTING_OPS.items():
                if any(e.counts.get(op) for op in ops):
                    newest[trigger] = max(newest[trigger], e.last_ts)
        elif kind == "TierRecommended":
            asked[e.target] = e.at
            if e.target == TIERS[HOT].value:
                promoted_at = max(promoted_at, e.at)
        elif kind == "MoveCommitted":
            entered = e.at if e.at is not None else asked.get(e.tier, seen)
    since = max(entered, promoted_at)
    used_since = np.sum([u for at, u in windows if at > since] or [(0, 0, 0)], axis=0)
    typical = np.sum([u for _, u in windows] or [(0, 0, 0)], axis=0) / max(1, len(days))
    return (entered, {trigger: at if at > since else np.nan for trigger, at in newest.items()},
            used_since, typical)


def decide_objects(app: ObjectLogApplication, keys: Sequence[tuple[str, str]], policy: Policy,
                   now: float, *, model: CostModel | None = None,
                   importances: Sequence[str] = (), step_s: float = DAY_S,
                   promotions_only: bool = False, window_days: float = WINDOW_DAYS) -> list[LiveDecision]:
    """The tier changes ``policy`` wants for ``keys`` at event time ``now``
    (``observe`` then ``choose``, in one place: operators and tests)."""
    seen = observe(app, keys, now, step_s=step_s, promotions_only=promotions_only,
                   window_days=window_days)
    return [] if seen is None else choose(seen, policy, model=model, importances=importances,
                                          step_s=step_s)


def choose(seen: Observed, policy: Policy, *, model: CostModel | None = None,
           importances: Sequence[str] = (), step_s: float = DAY_S) -> list[LiveDecision]:
    """The tier changes ``policy`` wants for the observed objects.

    An object in warm or cold that was accessed since it got there goes back
    to hot if the policy promotes on access (and, if it prices promotion, the
    promotion pays), whatever else it would say, as ``ml.simulate.run_policy``
    has it. An observation made for promotions only decides those and
    nothing else (the autopilot's sweep between rounds).
    """
    model = model or CostModel()
    now, objs, entries, lu = seen.now, seen.objects, seen.entries, seen.usage
    cur = np.array([TIERS.index(o.tier) for o in objs], dtype=int)
    promote = entries.promotable(policy.promote_on, cur)
    priced = None
    if promote.any() and policy.promote_priced:
        priced = _promotion_prices(entries, objs, cur, now, step_s, model)
        promote &= promotion_pays(priced["paid"], priced["typical"], priced["price"])
    want, scored, fb = cur.copy(), {}, None
    if lu is not None:
        u, t = lu.usage, lu.usage.t - 1
        fb = FeatureBuilder(u, np.array([group_hash(o.tenant, o.key) for o in objs]), lu.reads)
        policy.prepare(u, fb, model)
        if isinstance(policy, Ours) and policy.newcomers_from_time is not None:
            # by registration time, not by step: the live grid starts at the
            # oldest object here, not where the model's training range did
            policy.mark_newcomers(np.array([o.registered_at >= policy.newcomers_from_time for o in objs]))
        fb.advance(t)
        want = policy.decide(t, cur.copy(), lu.resid_steps.copy())
        if getattr(policy, "scored", None) is not None:
            rows, labels, conf = policy.scored
            scored = {int(r): (int(lab), float(c)) for r, lab, c in zip(rows, labels, conf)}
    want[promote] = HOT
    changed = np.flatnonzero(want != cur)
    if not len(changed):
        return []
    idle = fb.idle_days(t, "touch") if fb is not None else None
    x = fb.matrix(t, cur, lu.resid_steps) if importances and fb is not None else None
    top = [FEATURES.index(f) for f in importances[:3] if f in FEATURES]
    out = []
    for i in changed:
        conf = scored.get(int(i))
        target = TIERS[int(want[i])]
        if promote[i]:
            reasons, score = [_promotion_reason(policy.promote_on, objs[i].tier.value,
                                                entries.accessed_since[policy.promote_on][i],
                                                entries.entered[i])], 1.0
            if priced is not None:
                reasons.append(f"promotion pays: its accesses there cost ${priced['paid'][i]:.3g} over "
                               f"hot's prices (a typical day ${priced['typical'][i]:.3g}); "
                               f"leaving costs ${priced['price'][i]:.3g}")
        elif conf is not None and conf[0] == want[i]:
            reasons = [f"model: {target.value} with confidence {conf[1]:.2f}"]
            reasons += [f"{FEATURES[j]}={x[i, j]:.3g}" for j in top] if x is not None else []
            score = float(conf[1])
        else:
            reasons, score = [f"idle_days={idle[i]:.1f} (rule: days without GET/PUT)"], 1.0
        if isinstance(policy, Ours) and not promote[i]:
            reasons.append(f"guard: saving over {policy.horizon_days:g} days beats the move's cost"
                           + (" (newcomer's settings)" if policy.newcomers[i] else ""))
        out.append(LiveDecision(objs[i].tenant, objs[i].key, objs[i].tier.value, target.value,
                                score, reasons))
    return out


def _promotion_prices(entries: TierEntries, objs: Sequence[ObjectFacts], cur: np.ndarray,
                      now: float, step_s: float, model: CostModel) -> dict[str, np.ndarray]:
    """What each object's accesses have cost in its tier beyond hot's prices
    since it got there, what a typical day's would, and what leaving costs
    (ml.usage.promotion_pays, the rule the simulator applies)."""
    pr = Prices.of(model, np.array([float(o.size) for o in objs]))
    rows = np.arange(len(objs))
    steps = np.maximum(0.0, now - entries.entered) / step_s
    return {"paid": access_premium(pr, cur, *entries.used_since.T),
            "typical": access_premium(pr, cur, *entries.typical_day.T),
            "price": promotion_price(pr, cur, steps, step_s, rows)}


def _promotion_reason(trigger: str, tier: str, accessed: float, entered: float) -> str:
    ops = "/".join(PROMOTING_OPS[trigger])
    return (f"promoted on access: a {ops} at event time {accessed:.0f}, after it entered "
            f"{tier} at {entered:.0f}")


def decide_live(app: ObjectLogApplication, tenant: str, key: str, policy: Policy, now: float,
                model: CostModel | None = None, version: str | None = None,
                record: bool = True) -> LiveDecision:
    """One object (operators, tests): decide and, if it changes the tier, record it."""
    obj = app.current(tenant, key)
    if obj is None or obj.is_deleted:
        raise KeyError(f"{tenant}/{key}")
    found = decide_objects(app, [(tenant, key)], policy, now, model=model)
    if not found:
        return LiveDecision(tenant, key, obj.tier.value, obj.tier.value, 1.0,
                            [f"policy={policy.name}"])
    d = found[0]
    d.reasons.insert(0, f"policy={policy.name}")
    if record:
        policy_id = policy.name if version is None else f"{policy.name}@{version}"
        app.command(tenant, key, lambda o: o.recommend(d.target, policy_id, d.score, d.reasons, now))
        d.recorded = True
    return d
