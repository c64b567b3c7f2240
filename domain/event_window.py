"""How far a record's event time may stray from its tenant's event clock.

The absolute bounds (``records.MAX_TS``) keep a record storable; this keeps
one bad clock from aging or freezing a tenant's estate: a record dated 1970
among a tenant's 2026 records makes every object look decades idle, and one
dated 2100 drags the tenant's clock past every other record. The reference is
the tenant's event clock (the newest event time its read models have folded
in); a tenant with none yet is checked against its batch's median. The
window is a pair of per-tenant limits in the policy file's quotas
(``ts_ahead_days``, ``ts_behind_days``), so a replay of an old or long trace
widens it for its tenant only.
"""

from __future__ import annotations

from statistics import median
from typing import Any, Callable, Mapping, Sequence

from tiering.domain.clock import DAY_S
from tiering.domain.records import AccessRecord

MAX_REPORTED = 50


def window_errors(records: Sequence[AccessRecord], clock_of: Callable[[str], float | None],
                  limits_of: Callable[[str], Mapping[str, int | None]]) -> list[dict[str, Any]]:
    """One ``{"index", "field": "ts", "reason"}`` per record outside its
    tenant's window (up to ``MAX_REPORTED``); empty when all are inside."""
    times: dict[str, list[float]] = {}
    for r in records:
        times.setdefault(r.tenant, []).append(r.ts)
    refs: dict[str, float] = {}
    windows: dict[str, tuple[int | None, int | None]] = {}  # looked up once per tenant, not per record
    for tenant, ts in times.items():
        clock = clock_of(tenant)
        refs[tenant] = clock if clock is not None else median(ts)
        limits = limits_of(tenant)
        windows[tenant] = limits.get("ts_ahead_days"), limits.get("ts_behind_days")
    errors = []
    for i, r in enumerate(records):
        ahead, behind = windows[r.tenant]
        days = (r.ts - refs[r.tenant]) / DAY_S
        if ahead is not None and days > ahead:
            reason = f"is {days:,.1f} days ahead of tenant {r.tenant}'s event clock; at most {ahead} (ts_ahead_days)"
        elif behind is not None and -days > behind:
            reason = f"is {-days:,.1f} days behind tenant {r.tenant}'s event clock; at most {behind} (ts_behind_days)"
        else:
            continue
        errors.append({"index": i, "field": "ts", "reason": reason})
        if len(errors) >= MAX_REPORTED:
            break
    return errors
