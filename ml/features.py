"""Features of every object at a decision step, from its event history.

``FeatureBuilder`` walks the steps in order; ``matrix(t, tier, resid)`` uses
only steps before ``t`` (what the log held when the decision was taken).
"""

from __future__ import annotations

import zlib

import numpy as np

from tiering.domain.clock import DAY_S
from tiering.ml.usage import Usage

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


def _window_sum(cs: np.ndarray, t: int, w: int) -> np.ndarray:
    return cs[:, t] - cs[:, max(0, t - w)]


class FeatureBuilder:
    def __init__(self, u: Usage, groups: np.ndarray, reads: np.ndarray | None = None):
        self.u = u
        self.groups = groups
        self.steps_per_day = DAY_S / u.step_s
        self.win = [max(1, round(d * self.steps_per_day)) for d in WINDOWS_DAYS]
        pad = lambda a: np.concatenate([np.zeros((u.n, 1)), np.cumsum(a, axis=1)], axis=1)  # noqa: E731
        self.cs_gets, self.cs_puts, self.cs_bytes = pad(u.gets), pad(u.puts), pad(u.get_bytes)
        active = (u.gets + u.puts) > 0
        self.cs_active = pad(active.astype(float))
        self.sums = {"gets": self.cs_gets, "puts": self.cs_puts, "bytes": self.cs_bytes,
                     "active": self.cs_active}  # "active": steps with a GET, HEAD or PUT
        self.active = active
        touch = (reads if reads is not None else u.gets) + u.puts
        self.touch = touch > 0
        self.read = (reads if reads is not None else u.gets) > 0
        self.t = 0
        n = u.n
        self.last = np.full(n, -1)        # last step with any access
        self.last_touch = np.full(n, -1)  # last GET or PUT (not HEAD)
        self.last_read = np.full(n, -1)   # last GET
        self.gaps_n = np.zeros(n)
        self.gaps_sum = np.zeros(n)
        self.gaps_sq = np.zeros(n)

    def advance(self, t: int) -> None:
        """Take in steps up to t - 1."""
        while self.t < t:
            s = self.t
            a = self.active[:, s]
            seen = a & (self.last >= 0)
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
        ref = np.where(last >= 0, last + 1, self.u.birth)
        return (t - ref) / self.steps_per_day

    def window(self, t: int, days: float, what: str = "gets") -> np.ndarray:
        cs = self.sums[what]
        return _window_sum(cs, t, max(1, round(days * self.steps_per_day)))

    def window_steps(self, t: int, steps: np.ndarray, what: str = "gets") -> np.ndarray:
        """Per-object sums over the last ``steps[i]`` steps before t."""
        cs = self.sums[what]
        lo = np.clip(t - steps, 0, t)
        return cs[:, t] - cs[np.arange(self.u.n), lo]

    def matrix(self, t: int, tier: np.ndarray, resid: np.ndarray, rows=slice(None)) -> np.ndarray:
        self.advance(t)
        u, spd = self.u, self.steps_per_day
        w1, w7, w30 = self.win
        age = np.maximum(0, t - u.birth)
        gn = np.maximum(self.gaps_n, 1)
        mean = self.gaps_sum / gn
        std = np.sqrt(np.maximum(0.0, self.gaps_sq / gn - mean ** 2))
        cols = [
            _window_sum(self.cs_gets, t, w1), _window_sum(self.cs_gets, t, w7),
            _window_sum(self.cs_gets, t, w30), _window_sum(self.cs_puts, t, w30),
            np.log1p(_window_sum(self.cs_bytes, t, w7)), np.log1p(_window_sum(self.cs_bytes, t, w30)),
            self.idle_days(t), age / spd, mean / spd, std / spd,
            self.cs_active[:, t] / np.maximum(age, 1), np.log1p(u.size),
            tier.astype(float), resid / spd, self.groups,
        ]
        return np.stack([c[rows] for c in cols], axis=1)
