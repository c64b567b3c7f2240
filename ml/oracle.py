"""The cost of a tier schedule, and the offline optimum.

Changing tier at the start of a step pays the target's transition price plus
the early-deletion charge of the tier it leaves; a deleted object pays the
early-deletion charge of its last tier. Objects start hot at their first step
(the domain registers them hot). A promoted step (ml.usage.promoted_step)
starts in warm or cold and moves to hot at its first access, paying hot's
transition and the early deletion owed for the tier it leaves. Its storage is
billed in hot for the whole step, as if the access came at the step's start:
the order within a step is not kept, and this never flatters a policy that
promotes.

All prices come from ``domain.costs.CostModel``; ``schedule_cost`` prices any
policy's schedule and ``oracle`` finds the cheapest one by dynamic programming
over steps x (tier, steps spent in it), which is what early deletion needs.
The oracle may promote at any access, so it is a lower bound on policies that
promote and on those that do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiering.domain.costs import CostModel
from tiering.ml.usage import HOT, TIERS, Prices, Usage, promoted_step, step_components, touches

COMPONENTS = ("storage", "requests", "retrieval", "transition", "early_deletion")


@dataclass
class ScheduleCost:
    per_object: np.ndarray            # (N,)
    components: dict[str, float]
    moves: int
    get_bytes_by_tier: np.ndarray     # (K,)

    @property
    def total(self) -> float:
        return float(self.per_object.sum())


def schedule_cost(u: Usage, x: np.ndarray, model: CostModel, t0: int = 0,
                  free_start: bool = False, pr: Prices | None = None,
                  promo: np.ndarray | None = None) -> ScheduleCost:
    """Cost of tier schedule ``x`` (N, T ints) over steps t0..T-1.

    Residence before t0 carries over (so leaving early still owes), unless
    ``free_start``: then objects alive at t0 start in ``x[:, t0]`` for free,
    owing nothing (the oracle's relaxation, a lower bound for every policy).
    ``promo`` (N, T bools) marks the steps in which the object, in tier
    ``x[:, t]`` > hot, is promoted to hot at its first access (a step without
    an access has nothing to promote it).
    """
    pr = pr or Prices.of(model, u.size)
    comp = step_components(u, pr)
    rows = np.arange(u.n)
    cur = np.zeros(u.n, dtype=int)
    resid = np.zeros(u.n)
    per = np.zeros(u.n)
    totals = dict.fromkeys(COMPONENTS, 0.0)
    moves = 0
    gb = np.zeros(len(TIERS))
    touch = touches(u)

    def charge(name, m, c):
        per[m] += c
        totals[name] += float(c.sum())

    for t in range(u.t):
        born = u.birth == t
        cur[born], resid[born] = HOT, 0
        count = t >= t0
        if free_start and t == t0:
            early = (u.birth < t0) & (u.death > t0)
            cur[early], resid[early] = x[early, t0], 10 ** 9
        dying = (u.death == t) & (u.birth < t)
        if count and dying.any():
            charge("early_deletion", rows[dying],
                   pr.early_deletion(cur[dying], resid[dying], u.step_s, rows[dying]))
        alive = u.alive(t)
        move = alive & (x[:, t] != cur)
        if move.any():
            m = rows[move]
            if count:
                charge("early_deletion", m, pr.early_deletion(cur[m], resid[m], u.step_s, m))
                charge("transition", m, pr.transition[x[m, t]])
                moves += len(m)
            cur[m], resid[m] = x[m, t], 0
        up = alive & (cur > HOT) & (promo[:, t] & touch[:, t] if promo is not None else False)
        if count:
            a = rows[alive & ~up]
            for name in ("storage", "requests", "retrieval"):
                charge(name, a, comp[name][a, t, cur[a]])
            np.add.at(gb, cur[a], u.get_bytes[a, t])
        if up.any():
            p = rows[up]
            if count:
                ps = promoted_step(u, pr, p, t)
                charge("storage", p, comp["storage"][p, t, HOT])
                for name in ("requests", "retrieval"):
                    charge(name, p, ps[name][np.arange(len(p)), cur[p]])
                charge("early_deletion", p, pr.early_deletion(cur[p], resid[p], u.step_s, p))
                charge("transition", p, np.full(len(p), pr.transition[HOT]))
                moves += len(p)
                np.add.at(gb, cur[p], ps["first_bytes"])
                gb[HOT] += float((u.get_bytes[p, t] - ps["first_bytes"]).sum())
            cur[p], resid[p] = HOT, 0
        resid[alive] += 1
    return ScheduleCost(per, totals, moves, gb)


def oracle(u: Usage, model: CostModel, t0: int = 0, pr: Prices | None = None,
           promote: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cheapest schedule over t0..T-1 (objects alive at t0 start free),
    free to promote at any access unless ``promote`` is False.

    Returns (cost per object, schedule (N, T), promoted steps (N, T));
    steps before t0 are hot.
    """
    pr = pr or Prices.of(model, u.size)
    comp = step_components(u, pr)
    step = comp["storage"] + comp["requests"] + comp["retrieval"]  # (N, T, K)
    n, k, cap = u.n, len(TIERS), pr.cap(u.step_s)
    d = np.arange(cap + 1)
    owed = np.maximum(0.0, pr.min_s[None, :, None] - d[None, None, :] * u.step_s)  # (1, K, D)
    ed = pr.rate[None, :, None] * pr.billable[:, :, None] * owed                      # (N, K, D)
    inf = np.inf
    v = np.full((n, k, cap + 1), inf)
    final = np.full(n, inf)
    end_state = np.zeros((n, 2), dtype=int)
    enter = np.full((n, u.t, k), -1, dtype=np.int32)   # move source (flat i*(D)+d) or -1
    from_cap = np.zeros((n, u.t, k), dtype=bool)
    promo_src = np.full((n, u.t), -1, dtype=np.int32)  # (hot, 1) reached by promotion from
    touch = touches(u)
    before = np.maximum(d - 1, 0)  # steps in the tier before this one (cap keeps a spare step)
    start = np.maximum(u.birth, t0)
    end = np.minimum(u.death, u.t)
    early = (u.birth < t0) & (u.death > t0)
    v[early, :, cap] = 0.0
    for t in range(t0, u.t):
        born = u.birth == t
        if born.any():
            v[born] = inf
            v[born, HOT, 0] = 0.0
        dying = (u.death == t) & (start < t)
        if dying.any():
            tot = (v[dying] + ed[dying]).reshape(dying.sum(), -1)
            arg = tot.argmin(axis=1)
            final[dying] = tot[np.arange(len(arg)), arg]
            end_state[dying] = np.stack(np.unravel_index(arg, (k, cap + 1)), axis=1)
        alive = u.alive(t)
        if not alive.any():
            continue
        a = np.flatnonzero(alive)
        va, sa = v[a], step[a, t]
        leave = (va + ed[a]).reshape(len(a), -1)              # (A, K*D)
        nv = np.full_like(va, inf)
        # staying: d -> d+1, capped
        nv[:, :, 2:cap] = va[:, :, 1:cap - 1]
        stay_cap = np.stack([va[:, :, cap - 1], va[:, :, cap]], axis=2)
        from_cap[a, t] = stay_cap[:, :, 1] < stay_cap[:, :, 0]
        nv[:, :, cap] = stay_cap.min(axis=2)
        nv[:, :, 1] = va[:, :, 0]
        for j in range(k):
            cand = leave.copy()
            cand[:, j * (cap + 1):(j + 1) * (cap + 1)] = inf
            src = cand.argmin(axis=1)
            best = cand[np.arange(len(a)), src] + pr.transition[j]
            better = best < nv[:, j, 1]
            nv[better, j, 1] = best[better]
            enter[a[better], t, j] = src[better]
        # nv is now the best way into each (tier, steps in it) for step t;
        # a touched object may leave warm or cold for hot within the step
        pi = np.flatnonzero(touch[a, t]) if promote else ()
        if len(pi):
            rows = a[pi]
            ps = promoted_step(u, pr, rows, t)
            pc = comp["storage"][rows, t, HOT][:, None] + ps["requests"] + ps["retrieval"]  # (B, K)
            cand = nv[pi] + ed[rows][:, :, before] + pc[:, :, None]
            cand[:, HOT] = inf
            flat = cand.reshape(len(pi), -1)
            src = flat.argmin(axis=1)
            promoted = flat[np.arange(len(pi)), src] + pr.transition[HOT]
        nv += sa[:, :, None]
        if len(pi):
            better = promoted < nv[pi, HOT, 1]
            nv[pi[better], HOT, 1] = promoted[better]
            promo_src[rows[better], t] = src[better]
        v[a] = nv
    last = end >= u.t
    if last.any():
        tot = v[last].reshape(last.sum(), -1)
        arg = tot.argmin(axis=1)
        final[last] = tot[np.arange(len(arg)), arg]
        end_state[last] = np.stack(np.unravel_index(arg, (k, cap + 1)), axis=1)
    final[end <= start] = 0.0
    x, promo = _backtrack(u, start, end, end_state, enter, from_cap, promo_src, cap)
    return final, x, promo


def _backtrack(u: Usage, start, end, end_state, enter, from_cap, promo_src, cap):
    x = np.zeros((u.n, u.t), dtype=int)
    promo = np.zeros((u.n, u.t), dtype=bool)
    tier, dd = end_state[:, 0].copy(), end_state[:, 1].copy()
    for s in range(u.t - 1, -1, -1):
        on = (start <= s) & (s < end)
        if not on.any():
            continue
        r = np.flatnonzero(on)
        j, d = tier[r], dd[r]
        # promoted in step s: it spent the step's start in the tier it left
        ps = promo_src[r, s]
        up = (d == 1) & (j == HOT) & (ps >= 0)
        j[up], d[up] = ps[up] // (cap + 1), ps[up] % (cap + 1)
        promo[r[up], s] = True
        x[r, s] = j
        mid = (d >= 2) & (d < cap)
        at_cap = d == cap
        one = d == 1
        d_new = d.copy()
        d_new[mid] = d[mid] - 1
        fc = from_cap[r, s, j]
        d_new[at_cap] = np.where(fc[at_cap], cap, cap - 1)
        src = enter[r, s, j]
        moved = one & (src >= 0)
        d_new[one & (src < 0)] = 0
        j_new = j.copy()
        j_new[moved] = src[moved] // (cap + 1)
        d_new[moved] = src[moved] % (cap + 1)
        tier[r], dd[r] = j_new, d_new
    return x, promo
