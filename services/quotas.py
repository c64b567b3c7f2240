"""Per-tenant quotas, enforced where the work enters: ingest, operator moves, jobs.

Over a quota the caller gets ``Busy`` (429 with ``Retry-After``) naming the
quota and its limit, and nothing is done. Holdings (objects, bytes) are read
from the read models, so a burst can overshoot them by the projection lag;
rates are counted in this process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

from tiering.domain.event_window import window_errors
from tiering.domain.quotas import QUOTAS, TokenBucket
from tiering.domain.records import AccessRecord, Op
from tiering.services.errors import Busy, Invalid
from tiering.services.policies import Policies

DAY_S = 86_400


class QuotaGuard:
    def __init__(self, policies: Policies, holdings: Callable[[str], dict[str, int]] | None,
                 clock: Callable[[], float] = time.time,
                 on_over: Callable[[str, str, int], None] | None = None, *,
                 event_clock: Callable[[str], float | None] | None = None,
                 defaults: Mapping[str, int] | None = None):
        self.policies = policies
        self.event_clock = event_clock  # tenant -> its event-time clock (None: no events yet)
        self.defaults = dict(defaults or {})  # limits that apply where the policy file sets none
        self.on_over = on_over  # (tenant, quota, limit): the quota.exceeded incident
        self._told: dict[tuple[str, str], float] = {}
        self.holdings = holdings  # tenant -> {"objects", "bytes"} (None: not known here)
        self.clock = clock
        self._buckets: dict[tuple[str, int], TokenBucket] = {}
        self._moves: dict[tuple[str, int], int] = Counter()
        self._lock = threading.Lock()

    def limits(self, tenant: str) -> dict[str, int | None]:
        limits = self.policies.current().quotas.for_tenant(tenant)
        return {name: self.defaults.get(name) if limit is None else limit for name, limit in limits.items()}

    def check_event_window(self, records: Sequence[AccessRecord]) -> None:
        """Every record within its tenant's event-time window, or ``Invalid``
        naming each one outside it (``domain.event_window``)."""
        if self.event_clock is None:
            return
        errors = window_errors(records, self.event_clock, self.limits)
        if errors:
            first = errors[0]
            raise Invalid(errors, f"{len(errors)} record(s) outside the tenant's event-time window, the first "
                                  f"at index {first['index']}: ts {first['reason']}; nothing was applied")

    def check_ingest(self, records: Sequence[AccessRecord]) -> None:
        by_tenant = Counter(r.tenant for r in records)
        puts = {r.tenant for r in records if r.op is Op.PUT}
        for tenant, n in by_tenant.items():
            limits = self.limits(tenant)
            if tenant in puts and self.holdings is not None and (limits["objects"] is not None
                                                                 or limits["bytes"] is not None):
                held = self.holdings(tenant)
                for name in ("objects", "bytes"):
                    limit = limits[name]
                    if limit is not None and held[name] >= limit:
                        raise self._over(tenant, name, limit, 60, f"it holds {held[name]:,}")
            rate = limits["ingest_records_per_s"]
            if rate is not None:
                with self._lock:
                    bucket = self._buckets.setdefault((tenant, rate), TokenBucket(rate, self.clock()))
                    wait = bucket.take(n, self.clock())
                if wait:
                    why = ("a batch larger than a second's worth never fits: send smaller batches"
                           if n > rate else f"{n:,} records now")
                    raise self._over(tenant, "ingest_records_per_s", rate, math.ceil(min(wait, 3600)), why)

    def check_move(self, tenant: str) -> None:
        """Count one operator move request against today's quota (UTC day)."""
        limit = self.limits(tenant)["moves_per_day"]
        if limit is None:
            return
        now = self.clock()
        day = int(now // DAY_S)
        with self._lock:
            if self._moves[(tenant, day)] >= limit:
                raise self._over(tenant, "moves_per_day", limit, math.ceil((day + 1) * DAY_S - now), "today")
            self._moves[(tenant, day)] += 1

    def check_jobs(self, tenant: str, running: int) -> None:
        limit = self.limits(tenant)["concurrent_jobs"]
        if limit is not None and running >= limit:
            raise self._over(tenant, "concurrent_jobs", limit, 30, f"{running} queued or running")

    def status(self, tenant: str) -> dict[str, Any]:
        """Each quota's limit, and what the tenant holds or used where that is known."""
        limits = self.limits(tenant)
        held = self.holdings(tenant) if self.holdings is not None else {}
        day = int(self.clock() // DAY_S)
        used = {"objects": held.get("objects"), "bytes": held.get("bytes"),
                "moves_per_day": self._moves.get((tenant, day), 0)}
        return {"tenant": tenant, "quotas": {name: {"limit": limits[name], "used": used.get(name),
                                                    "meaning": QUOTAS[name]} for name in QUOTAS}}


    def _over(self, tenant: str, quota: str, limit: int, retry_after_s: int, why: str) -> Busy:
        """The refusal; the incident too, at most once a minute per tenant and quota."""
        now = self.clock()
        if self.on_over is not None and now - self._told.get((tenant, quota), -math.inf) >= 60:
            self._told[(tenant, quota)] = now
            try:
                self.on_over(tenant, quota, limit)
            except Exception:  # noqa: BLE001 - telling must never change the answer
                pass
        return _busy(tenant, quota, limit, retry_after_s, why)


def _busy(tenant: str, quota: str, limit: int, retry_after_s: int, why: str) -> Busy:
    return Busy(f"tenant {tenant} is over its {quota} quota of {limit:,} ({why})", max(1, retry_after_s),
                quota=quota, limit=limit)
