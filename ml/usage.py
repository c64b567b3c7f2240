"""Per-step usage of objects and the prices that bill it.

An object's history is cut into steps of ``step_s`` billing seconds. During a
step it sits in one tier and pays that tier's storage (at the tier's minimum
billable size), requests and retrieval (``step_components``). A policy that
promotes on access (S3 Intelligent-Tiering, Autoclass, ours) brings an object
in warm or cold back to hot at its first access in a step: that access is
billed in the tier it found the object in and the rest of the step's accesses
in hot (``promoted_step``; ml.oracle bills the rest of such a step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiering.domain.clock import DAY_S
from tiering.domain.costs import GB, MONTH_S, CostModel
from tiering.domain.tiers import Tier

TIERS = (Tier.HOT, Tier.WARM, Tier.COLD)
HOT, WARM, COLD = 0, 1, 2


# Larger than any step number, smaller than any difference of two: "no such step".
NEVER = np.iinfo(np.int64).min // 4
SUMMED = ("gets", "puts", "get_bytes", "active", "lat_sum", "lat_n")
AT_BIRTH = ("gets", "puts", "get_bytes")


@dataclass
class PriorUsage:
    """What a grid that starts after some objects were born leaves out, per object (N,):
    sums over the steps before its first (``SUMMED``; ``active`` counts steps with a GET,
    HEAD or PUT), the accesses of the birth step when it is one of them (``AT_BIRTH``),
    and where a walk over them ends (newest steps with an access, any / GET or PUT / GET,
    numbered as in the grid, so negative, or NEVER; gap statistics between active steps).
    It keeps a live decision's memory bounded by the window its features read, not by how
    long ago its objects were born."""

    totals: dict[str, np.ndarray]
    at_birth: dict[str, np.ndarray]
    last: np.ndarray
    last_touch: np.ndarray
    last_read: np.ndarray
    gaps_n: np.ndarray
    gaps_sum: np.ndarray
    gaps_sq: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "PriorUsage":
        zeros = lambda: np.zeros(n)  # noqa: E731
        never = lambda: np.full(n, NEVER, dtype=np.int64)  # noqa: E731
        return cls({k: zeros() for k in SUMMED}, {k: zeros() for k in AT_BIRTH},
                   never(), never(), never(), zeros(), zeros(), zeros())

    def subset(self, idx) -> "PriorUsage":
        return PriorUsage({k: v[idx] for k, v in self.totals.items()},
                          {k: v[idx] for k, v in self.at_birth.items()},
                          self.last[idx], self.last_touch[idx], self.last_read[idx],
                          self.gaps_n[idx], self.gaps_sum[idx], self.gaps_sq[idx])


@dataclass
class Usage:
    """Accesses of N objects over T steps (arrays are (N, T) unless noted).

    ``prior``, when set, sums up the steps before the first (births are then
    negative for objects born before it)."""

    gets: np.ndarray
    get_bytes: np.ndarray
    puts: np.ndarray
    size: np.ndarray   # (N,) bytes
    birth: np.ndarray  # (N,) first step
    death: np.ndarray  # (N,) step at which it was deleted; T if never
    step_s: float
    lat_sum: np.ndarray | None = None
    lat_n: np.ndarray | None = None
    prior: PriorUsage | None = None

    @property
    def n(self) -> int:
        return self.gets.shape[0]

    @property
    def t(self) -> int:
        return self.gets.shape[1]

    def subset(self, idx) -> "Usage":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Usage(self.gets[idx], self.get_bytes[idx], self.puts[idx], self.size[idx],
                     self.birth[idx], self.death[idx], self.step_s, pick(self.lat_sum), pick(self.lat_n),
                     None if self.prior is None else self.prior.subset(idx))

    def total_before(self, what: str) -> np.ndarray:
        """(N,) ``what`` (one of SUMMED) over the steps before the grid's first."""
        return np.zeros(self.n) if self.prior is None else self.prior.totals[what]

    def at_birth(self, what: str) -> np.ndarray:
        """(N,) ``what`` (one of AT_BIRTH) in each object's birth step (the grid's
        first or last step for births outside it)."""
        vals = getattr(self, what)[np.arange(self.n), np.clip(self.birth, 0, self.t - 1)]
        return vals if self.prior is None else np.where(self.birth < 0, self.prior.at_birth[what], vals)

    def head(self, steps: int) -> "Usage":
        """The first ``steps`` steps (objects deleted later count as alive)."""
        if self.prior is not None:
            raise ValueError("head() of a grid with a prior: cut the grid before summing up its start")
        cut = lambda a: None if a is None else a[:, :steps]  # noqa: E731
        return Usage(cut(self.gets), cut(self.get_bytes), cut(self.puts), self.size, self.birth,
                     np.minimum(self.death, steps), self.step_s, cut(self.lat_sum), cut(self.lat_n))

    def since(self, start: int) -> "Usage":
        """Steps ``start`` on, numbered from 0 (objects born earlier count as born at 0)."""
        if self.prior is not None:
            raise ValueError("since() of a grid with a prior: cut the grid before summing up its start")
        cut = lambda a: None if a is None else a[:, start:]  # noqa: E731
        return Usage(cut(self.gets), cut(self.get_bytes), cut(self.puts), self.size,
                     np.maximum(self.birth - start, 0), np.maximum(self.death - start, 0), self.step_s,
                     cut(self.lat_sum), cut(self.lat_n))

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
                   arr(lambda x: x.transition_per_1k / 1000), arr(lambda x: x.min_storage_days * DAY_S),
                   np.maximum(size.astype(float)[:, None], floors[None, :]))

    def cap(self, step_s: float) -> int:
        """Steps after which no tier owes early deletion, even one step
        earlier (a promotion leaves during its step): at least 2."""
        return max(2, int(math.ceil(float(self.min_s.max()) / step_s)) + 1)

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


def access_premium(pr: Prices, tier: np.ndarray, gets, puts, get_bytes) -> np.ndarray:
    """What ``gets``, ``puts`` and ``get_bytes`` cost in ``tier`` beyond what
    they would cost in hot (requests and retrieval)."""
    return (gets * (pr.get[tier] - pr.get[HOT]) + puts * (pr.put[tier] - pr.put[HOT])
            + get_bytes * (pr.retrieval[tier] - pr.retrieval[HOT]))


def promotion_price(pr: Prices, tier: np.ndarray, steps_in_tier: np.ndarray, step_s: float,
                    rows: np.ndarray) -> np.ndarray:
    """What leaving warm or cold for hot costs: hot's transition plus the
    early deletion owed for the tier left."""
    return pr.transition[HOT] + pr.early_deletion(tier, steps_in_tier, step_s, rows)


def promotion_pays(paid_since: np.ndarray, typical_day: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Priced promotion, the ski-rental way: an access brings an object in
    warm or cold back to hot only once the premium its accesses have paid
    there since it arrived (``paid_since``, from ``access_premium``), or the
    premium of one of its typical days with an access (``typical_day``),
    reaches what the promotion costs (``promotion_price``). Without it a large
    object read a little now and then thrashes between cold and hot, paying
    early deletion each time, where a read in place costs a GET."""
    return (paid_since >= price) | (typical_day >= price)


def touches(u: Usage) -> np.ndarray:
    """(N, T) steps with an access that can promote: any GET-class or PUT."""
    return (u.gets + u.puts) > 0


def promoted_step(u: Usage, pr: Prices, rows: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """(R, K) requests and retrieval of step ``t`` for ``rows`` that start it
    in tier k and are promoted to hot at their first access, plus (R,) the
    bytes of that first access. The order of accesses within a step is not
    kept, so the first is taken to be a GET (of the step's mean GET size)
    when the step has one, else a PUT."""
    g, p, b = u.gets[rows, t], u.puts[rows, t], u.get_bytes[rows, t]
    first_get = g > 0
    first_bytes = np.where(first_get, b / np.maximum(g, 1), 0.0)
    first_req = np.where(first_get[:, None], pr.get[None, :], pr.put[None, :])
    rest_req = (g - first_get) * pr.get[HOT] + (p - ~first_get).clip(0) * pr.put[HOT]
    return {"requests": first_req + rest_req[:, None],
            "retrieval": first_bytes[:, None] * pr.retrieval[None, :]
            + ((b - first_bytes) * pr.retrieval[HOT])[:, None],
            "first_bytes": first_bytes}
