"""The live side of ml.policies: decide for one object from its own log.

The same Policy classes the evaluator runs see the object's history (read
from its events, as in ml.history) and its current tier; a decision that
differs from the current tier is recorded in the log as TierRecommended with
the policy id (and model version), a score and its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from domain.application import ObjectLogApplication
from domain.costs import CostModel
from domain.ids import object_id
from ml.features import FEATURES, FeatureBuilder, group_hash
from ml.history import DAY_S, _fold_events
from ml.oracle import TIERS, Usage
from ml.policies import Ours, Policy


@dataclass
class LiveDecision:
    target: str
    current: str
    recorded: bool
    score: float
    reasons: list[str]


def object_usage(app: ObjectLogApplication, tenant: str, key: str, now: float,
                 step_s: float = DAY_S) -> tuple[Usage, np.ndarray, Any, float]:
    """(usage with the decision step last, reads, live object, days in tier)."""
    obj = app.current(tenant, key)
    if obj is None or obj.is_deleted:
        raise KeyError(f"{tenant}/{key}")
    evs = list(app.events.get(object_id(tenant, key, obj.incarnation)))
    origin = obj.registered_at
    steps = max(1, int((now - origin) // step_s)) + 1  # the last step is the one being decided
    row = _fold_events(evs, SimpleNamespace(origin=origin, step_s=step_s, steps=steps))
    arr = {f: np.zeros((1, steps)) for f in ("gets", "get_bytes", "puts", "reads", "lat_sum", "lat_n")}
    for s, vals in row["steps"].items():
        if s < steps - 1:  # only what happened before the decision
            for f, v in vals.items():
                arr[f][0, s] += v
    entered = max([e.at for e in evs if type(e).__name__ == "MoveCommitted"] + [origin])
    u = Usage(arr["gets"], arr["get_bytes"], arr["puts"], np.array([float(obj.size)]),
              np.array([0]), np.array([steps]), step_s, arr["lat_sum"], arr["lat_n"])
    return u, arr["reads"], obj, (now - entered) / DAY_S


def decide_live(app: ObjectLogApplication, tenant: str, key: str, policy: Policy, now: float,
                model: CostModel | None = None, version: str | None = None,
                record: bool = True) -> LiveDecision:
    model = model or CostModel()
    u, reads, obj, days_in_tier = object_usage(app, tenant, key, now)
    t = u.t - 1
    fb = FeatureBuilder(u, np.array([group_hash(tenant, key)]), reads)
    policy.prepare(u, fb, model)
    cur = np.array([TIERS.index(obj.tier)])
    resid = np.array([days_in_tier * fb.steps_per_day])
    fb.advance(t)
    want = int(policy.decide(t, cur.copy(), resid.copy())[0])
    score, reasons = 1.0, [f"policy={policy.name}"]
    if isinstance(policy, Ours) and policy.clf is not None:
        x = fb.matrix(t, cur, resid)
        score = float(policy.clf.predict_proba(x).max())
        imp = getattr(policy.clf, "feature_importances_", None)
        if imp is not None:
            top = np.argsort(imp)[::-1][:3]
            reasons += [f"{FEATURES[i]}={x[0, i]:.3g}" for i in top]
    else:
        reasons.append(f"idle_days={fb.idle_days(t, 'touch')[0]:.1f}")
    target = TIERS[want]
    recorded = False
    if record and target is not obj.tier:
        policy_id = policy.name if version is None else f"{policy.name}@{version}"
        app.command(tenant, key, lambda o: o.recommend(target, policy_id, score, reasons, now))
        recorded = True
    return LiveDecision(target.value, obj.tier.value, recorded, score, reasons)
