"""Per-step usage, the cost of a tier schedule, and the offline optimum.

An object's history is cut into steps of ``step_s`` billing seconds. During a
step it sits in one tier and pays that tier's storage (at the tier's minimum
billable size), requests and retrieval. Changing tier at the start of a step
pays the target's transition price plus the early-deletion charge of the tier
it leaves; a deleted object pays the early-deletion charge of its last tier.
Objects start hot at their first step (the domain registers them hot).

All prices come from ``domain.costs.CostModel``; ``schedule_cost`` prices any
policy's schedule and ``oracle`` finds the cheapest one by dynamic programming
over steps x (tier, steps spent in it), which is what early deletion needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from domain.costs import GB, MONTH_S, CostModel
from domain.tiers import Tier

TIERS = (Tier.HOT, Tier.WARM, Tier.COLD)
HOT, WARM, COLD = 0, 1, 2
COMPONENTS = ("storage", "requests", "retrieval", "transition", "early_deletion")


@dataclass
class Usage:
    """Accesses of N objects over T steps (arrays are (N, T) unless noted)."""

    gets: np.ndarray
    get_bytes: np.ndarray
    puts: np.ndarray
    size: np.ndarray   # (N,) bytes
    birth: np.ndarray  # (N,) first step
    death: np.ndarray  # (N,) step at which it was deleted; T if never
    step_s: float
    lat_sum: np.ndarray | None = None
    lat_n: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.gets.shape[0]

    @property
    def t(self) -> int:
        return self.gets.shape[1]

    def subset(self, idx) -> "Usage":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Usage(self.gets[idx], self.get_bytes[idx], self.puts[idx], self.size[idx],
                     self.birth[idx], self.death[idx], self.step_s, pick(self.lat_sum), pick(self.lat_n))

    def head(self, steps: int) -> "Usage":
        """The first ``steps`` steps (objects deleted later count as alive)."""
        cut = lambda a: None if a is None else a[:, :steps]  # noqa: E731
        return Usage(cut(self.gets), cut(self.get_bytes), cut(self.puts), self.size, self.birth,
                     np.minimum(self.death, steps), self.step_s, cut(self.lat_sum), cut(self.lat_n))

    def alive(self, t: int) -> np.ndarray:
        return (self.birth <= t) & (t < self.death)


@dataclass
class Prices:
    """A CostModel as arrays over TIERS, per object (billable sizes)."""

    rate: np.ndarray        # (K,) $ per byte-second of storage
    get: np.ndarray         # (K,) $ per GET
    put: np.ndarray         # (K,) $ per PUT
    retrieval: np.ndarray   # (K,) $ per byte read
    transition: np.ndarray  # (K,) $ per move into the tier
    min_s: np.ndarray       # (K,) minimum storage seconds
    billable: np.ndarray    # (N, K) billable bytes

    @classmethod
    def of(cls, model: CostModel, size: np.ndarray) -> "Prices":
        p = [model.tier_prices(t) for t in TIERS]
        arr = lambda f: np.array([f(x) for x in p], dtype=float)  # noqa: E731
        floors = np.array([x.min_billable_bytes for x in p], dtype=float)
        return cls(arr(lambda x: x.storage_gb_month / GB / MONTH_S), arr(lambda x: x.get_per_1k / 1000),
                   arr(lambda x: x.put_per_1k / 1000), arr(lambda x: x.retrieval_gb / GB),
                   arr(lambda x: x.transition_per_1k / 1000), arr(lambda x: x.min_storage_days * 86_400),
                   np.maximum(size.astype(float)[:, None], floors[None, :]))

    def cap(self, step_s: float) -> int:
        """Steps after which no tier owes early deletion (at least 2)."""
        return max(2, int(math.ceil(float(self.min_s.max()) / step_s)))

    def early_deletion(self, tier: np.ndarray | int, steps: np.ndarray, step_s: float,
                       rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        owed = np.maximum(0.0, self.min_s[tier] - steps * step_s)
        return self.rate[tier] * self.billable[rows, tier] * owed


def step_components(u: Usage, pr: Prices) -> dict[str, np.ndarray]:
    """(N, T, K) storage, request and retrieval cost of each step in each tier."""
    alive = (np.arange(u.t)[None, :] >= u.birth[:, None]) & (np.arange(u.t)[None, :] < u.death[:, None])
    storage = alive[:, :, None] * (pr.billable * pr.rate * u.step_s)[:, None, :]
    requests = u.gets[:, :, None] * pr.get + u.puts[:, :, None] * pr.put
    retrieval = u.get_bytes[:, :, None] * pr.retrieval
    return {"storage": storage, "requests": requests, "retrieval": retrieval}


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
                  free_start: bool = False, pr: Prices | None = None) -> ScheduleCost:
    """Cost of tier schedule ``x`` (N, T ints) over steps t0..T-1.

    Residence before t0 carries over (so leaving early still owes), unless
    ``free_start``: then objects alive at t0 start in ``x[:, t0]`` for free,
    owing nothing (the oracle's relaxation, a lower bound for every policy).
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
    for t in range(u.t):
        born = u.birth == t
        cur[born], resid[born] = HOT, 0
        count = t >= t0
        if free_start and t == t0:
            early = (u.birth < t0) & (u.death > t0)
            cur[early], resid[early] = x[early, t0], 10 ** 9
        dying = (u.death == t) & (u.birth < t)
        if count and dying.any():
            ed = pr.early_deletion(cur[dying], resid[dying], u.step_s, rows[dying])
            per[dying] += ed
            totals["early_deletion"] += float(ed.sum())
        alive = u.alive(t)
        move = alive & (x[:, t] != cur)
        if move.any():
            m = rows[move]
            ed = pr.early_deletion(cur[m], resid[m], u.step_s, m)
            tr = pr.transition[x[m, t]]
            if count:
                per[m] += ed + tr
                totals["early_deletion"] += float(ed.sum())
                totals["transition"] += float(tr.sum())
                moves += len(m)
            cur[m], resid[m] = x[m, t], 0
        if count:
            a = rows[alive]
            for name in ("storage", "requests", "retrieval"):
                c = comp[name][a, t, cur[a]]
                per[a] += c
                totals[name] += float(c.sum())
            np.add.at(gb, cur[a], u.get_bytes[a, t])
        resid[alive] += 1
    return ScheduleCost(per, totals, moves, gb)


def oracle(u: Usage, model: CostModel, t0: int = 0, pr: Prices | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest schedule over t0..T-1 (objects alive at t0 start free).

    Returns (cost per object, schedule (N, T)); steps before t0 are hot.
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
        nv += sa[:, :, None]
        v[a] = nv
    last = end >= u.t
    if last.any():
        tot = v[last].reshape(last.sum(), -1)
        arg = tot.argmin(axis=1)
        final[last] = tot[np.arange(len(arg)), arg]
        end_state[last] = np.stack(np.unravel_index(arg, (k, cap + 1)), axis=1)
    final[end <= start] = 0.0
    return final, _backtrack(u, start, end, end_state, enter, from_cap, cap)


def _backtrack(u: Usage, start, end, end_state, enter, from_cap, cap) -> np.ndarray:
    x = np.zeros((u.n, u.t), dtype=int)
    tier, dd = end_state[:, 0].copy(), end_state[:, 1].copy()
    for s in range(u.t - 1, -1, -1):
        on = (start <= s) & (s < end)
        if not on.any():
            continue
        r = np.flatnonzero(on)
        j, d = tier[r], dd[r]
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
    return x
