"""Features of every object at a decision step, from its event history.

``FeatureBuilder`` walks the steps in order; ``matrix(t, tier, resid)`` uses
only steps before ``t`` (what the log held when the decision was taken).
"""

from __future__ import annotations

import zlib

import numpy as np

from tiering.domain.clock import DAY_S
from tiering.ml.usage import NEVER, PriorUsage, Usage

WINDOWS_DAYS = (1, 7, 30)
FEATURES = (
    "gets_1d", "gets_7d", "gets_30d", "puts_30d", "log_bytes_7d", "log_bytes_30d",
    "recency_days", "age_days", "gap_mean_days", "gap_std_days", "active_share",
    "log_size", "tier", "days_in_tier", "tenant_prefix_hash",
)


def group_hash(tenant: str, key: str) -> float:
    """Tenant plus the key's first path segment, hashed into [0, 1)."""
    prefix = key.split("/", 1)[0] if "/" in key else ""
    return (zlib.crc32(f"{tenant}/{prefix}".encode()) % 10_000) / 10_000


def _window_sum(cs: np.ndarray, t: int, w: int, before: np.ndarray) -> np.ndarray:
    """Sums over the ``w`` steps before ``t``; a window that reaches past the grid's
    first step takes everything before it too (``before``: lifetime windows)."""
    return cs[:, t] - (cs[:, t - w] if t >= w else cs[:, 0] - before)


class FeatureBuilder:
    def __init__(self, u: Usage, groups: np.ndarray, reads: np.ndarray | None = None):
        self.u = u
        self.groups = groups
        self.steps_per_day = DAY_S / u.step_s
        self.win = [max(1, round(d * self.steps_per_day)) for d in WINDOWS_DAYS]
        # cs[:, t]: everything before step t, the steps before the grid included
        self.before = {"gets": u.total_before("gets"), "puts": u.total_before("puts"),
                       "bytes": u.total_before("get_bytes"), "active": u.total_before("active")}
        pad = lambda a, b: np.concatenate([b[:, None], b[:, None] + np.cumsum(a, axis=1)], axis=1)  # noqa: E731
        active = (u.gets + u.puts) > 0
        self.sums = {"gets": pad(u.gets, self.before["gets"]), "puts": pad(u.puts, self.before["puts"]),
                     "bytes": pad(u.get_bytes, self.before["bytes"]),
                     "active": pad(active.astype(float), self.before["active"])}  # steps with a GET, HEAD or PUT
        self.cs_gets, self.cs_puts = self.sums["gets"], self.sums["puts"]
        self.cs_bytes, self.cs_active = self.sums["bytes"], self.sums["active"]
        self.active = active
        touch = (reads if reads is not None else u.gets) + u.puts
        self.touch = touch > 0
        self.read = (reads if reads is not None else u.gets) > 0
        self.t = 0
        prior = u.prior if u.prior is not None else PriorUsage.empty(u.n)
        self.last = prior.last.copy()              # last step with any access, or NEVER
        self.last_touch = prior.last_touch.copy()  # last GET or PUT (not HEAD)
        self.last_read = prior.last_read.copy()    # last GET
        self.gaps_n = prior.gaps_n.copy()
        self.gaps_sum = prior.gaps_sum.copy()
        self.gaps_sq = prior.gaps_sq.copy()

    def advance(self, t: int) -> None:
        """Take in steps up to t - 1."""
        while self.t < t:
            s = self.t
            a = self.active[:, s]
            seen = a & (self.last > NEVER)
            gap = (s - self.last[seen]).astype(float)
            self.gaps_n[seen] += 1
            self.gaps_sum[seen] += gap
            self.gaps_sq[seen] += gap * gap
            self.last[a] = s
            self.last_touch[self.touch[:, s]] = s
            self.last_read[self.read[:, s]] = s
            self.t += 1

    def idle_days(self, t: int, which: str = "any") -> np.ndarray:
        """Days since the last access (``touch``: GET/PUT, ``read``: GET), or since birth."""
        last = {"any": self.last, "touch": self.last_touch, "read": self.last_read}[which]
        ref = np.where(last > NEVER, last + 1, self.u.birth)
        return (t - ref) / self.steps_per_day

    def window(self, t: int, days: float, what: str = "gets") -> np.ndarray:
        return _window_sum(self.sums[what], t, max(1, round(days * self.steps_per_day)), self.before[what])

    def window_steps(self, t: int, steps: np.ndarray, what: str = "gets") -> np.ndarray:
        """Per-object sums over the last ``steps[i]`` steps before t."""
        cs = self.sums[what]
        lo = np.clip(t - steps, 0, t)
        return cs[:, t] - cs[np.arange(self.u.n), lo] + np.where(t - steps < 0, self.before[what], 0.0)

    def _sum(self, what: str, t: int, w: int) -> np.ndarray:
        return _window_sum(self.sums[what], t, w, self.before[what])

    def matrix(self, t: int, tier: np.ndarray, resid: np.ndarray, rows=slice(None)) -> np.ndarray:
        self.advance(t)
        u, spd = self.u, self.steps_per_day
        w1, w7, w30 = self.win
        age = np.maximum(0, t - u.birth)
        gn = np.maximum(self.gaps_n, 1)
        mean = self.gaps_sum / gn
        std = np.sqrt(np.maximum(0.0, self.gaps_sq / gn - mean ** 2))
        cols = [
            self._sum("gets", t, w1), self._sum("gets", t, w7), self._sum("gets", t, w30),
            self._sum("puts", t, w30), np.log1p(self._sum("bytes", t, w7)), np.log1p(self._sum("bytes", t, w30)),
            self.idle_days(t), age / spd, mean / spd, std / spd,
            self.cs_active[:, t] / np.maximum(age, 1), np.log1p(u.size),
            tier.astype(float), resid / spd, self.groups,
        ]
        return np.stack([c[rows] for c in cols], axis=1)
