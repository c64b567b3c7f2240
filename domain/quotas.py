"""Per-tenant quotas: what a tenant may hold and do.

Set in the policy file's ``quotas`` section (``PUT /policies``): ``defaults``
for every tenant, ``tenants.<name>`` over them. A quota left out, or null,
is unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

QUOTAS = {
    "objects": "live objects the tenant holds",
    "bytes": "bytes the tenant's live objects hold",
    "ingest_records_per_s": "access records the tenant may send per second",
    "moves_per_day": "moves operators may request for the tenant per day",
    "concurrent_jobs": "training and what-if jobs queued or running at once",
    "ts_ahead_days": "days a record's event time may be ahead of the tenant's event clock (422 beyond)",
    "ts_behind_days": "days a record's event time may be behind the tenant's event clock (422 beyond)",
}
Limits = Mapping[str, int]


def _check(where: str, data: Any) -> dict[str, int]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of quota -> limit")
    out = {}
    for name, limit in data.items():
        if name not in QUOTAS:
            raise ValueError(f"{where}.{name}: unknown quota; expected one of {', '.join(QUOTAS)}")
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 2**62:
            raise ValueError(f"{where}.{name}: must be a whole number from 0 to 2^62, or null")
        out[name] = limit
    return out


@dataclass(frozen=True)
class QuotaConfig:
    defaults: Limits = field(default_factory=dict)
    tenants: Mapping[str, Limits] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> "QuotaConfig":
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("quotas: expected a mapping with defaults and tenants")
        unknown = set(data) - {"defaults", "tenants"}
        if unknown:
            raise ValueError(f"quotas: unknown section(s) {sorted(unknown)}; expected defaults, tenants")
        tenants = data.get("tenants") or {}
        if not isinstance(tenants, Mapping):
            raise ValueError("quotas.tenants: expected a mapping of tenant -> quotas")
        return cls(_check("quotas.defaults", data.get("defaults")),
                   {str(t): _check(f"quotas.tenants.{t}", q) for t, q in tenants.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"defaults": dict(self.defaults), "tenants": {t: dict(q) for t, q in self.tenants.items()}}

    def for_tenant(self, tenant: str) -> dict[str, int | None]:
        """Every quota's limit for ``tenant``; None is unlimited."""
        merged = {**self.defaults, **self.tenants.get(tenant, {})}
        return {name: merged.get(name) for name in QUOTAS}


class TokenBucket:
    """``rate`` per second, holding at most one second's worth: a clock is passed in."""

    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.tokens = rate
        self.at = now

    def take(self, n: int, now: float) -> float:
        """Take ``n`` tokens: 0.0 if taken, else the seconds until they would be there."""
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if n <= self.tokens:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate if self.rate > 0 else float("inf")
