"""Drive a policy over a whole usage history, as the live system would day by day.

At the start of each step the policy decides each object's tier from what
happened before it. A policy that promotes on access brings an object in warm
or cold back to hot within the step, at its first access; if the policy
prices promotion, only once the promotion pays (ml.usage.promotion_pays).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tiering.domain.costs import CostModel
from tiering.ml.features import FeatureBuilder
from tiering.ml.usage import HOT, Prices, Usage, access_premium, promotion_pays, promotion_price


class Schedule(NamedTuple):
    x: np.ndarray      # (N, T) tier at the start of each step
    promo: np.ndarray  # (N, T) steps in which an access promoted the object to hot


def run_policy(policy, u: Usage, fb: FeatureBuilder, model: CostModel) -> Schedule:
    """The schedule a policy produces, deciding at the start of each step and,
    if it promotes on access, promoting within the step."""
    policy.prepare(u, fb, model)
    x = np.zeros((u.n, u.t), dtype=int)
    promo = np.zeros((u.n, u.t), dtype=bool)
    trigger = {None: None, "touch": fb.touch, "read": fb.read}[policy.promote_on]
    cur = np.zeros(u.n, dtype=int)
    resid = np.zeros(u.n)
    priced = trigger is not None and policy.promote_priced
    if priced:
        pr, rows = Prices.of(model, u.size), np.arange(u.n)
    for t in range(u.t):
        born = u.birth == t
        cur[born], resid[born] = HOT, 0
        fb.advance(t)
        alive = u.alive(t)
        want = policy.decide(t, cur.copy(), resid.copy())
        moved = alive & (want != cur)
        cur[moved], resid[moved] = want[moved], 0
        x[:, t] = cur
        if trigger is not None:
            up = alive & (cur > HOT) & trigger[:, t]
            if priced and up.any():
                # the steps before t in this tier, and a typical step with an
                # access before t; the order within a step is not kept, so
                # this step's own accesses are not known when its first one asks
                since = [fb.window_steps(t, resid.astype(int), w) for w in ("gets", "puts", "bytes")]
                active = np.maximum(fb.window(t, 10 ** 6, "active"), 1)
                typical = [fb.window(t, 10 ** 6, w) / active for w in ("gets", "puts", "bytes")]
                up &= promotion_pays(access_premium(pr, cur, *since), access_premium(pr, cur, *typical),
                                     promotion_price(pr, cur, resid, u.step_s, rows))
            promo[up, t] = True
            cur[up], resid[up] = HOT, 0
        resid[alive] += 1
    return Schedule(x, promo)
