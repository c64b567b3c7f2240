"""The plain age rule: a decision besides the autopilot's.

It produces ``Decision``s on objects' read-model rows; the movers do the
rest. (An operator's move is a use case: ``services.moves``.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import TierBuckets, object_name
from tiering.domain.clock import DAY_S
from tiering.domain.tiers import Tier
from tiering.ml.policies import idle_rule
from tiering.ml.usage import TIERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgeRule:
    """The lifecycle rule of MinIO ILM or plain S3: idle long enough, go down.

    Idle time is measured in event time, against the object's tenant's
    event-time now, because replayed traces and synthetic load do not live
    on the wall clock, and one tenant's replay must not age another's
    objects. Hot objects idle past ``cold_after_s`` go straight to cold.
    """

    warm_after_s: float
    cold_after_s: float
    policy: str = "age-rule"

    @classmethod
    def from_settings(cls, settings) -> "AgeRule":
        return cls(settings.age_warm_after_s, settings.age_cold_after_s)

    def target(self, row: dict[str, Any], now: float) -> Tier | None:
        """The tier the idle rule (``ml.policies.idle_rule``, the same rule the
        simulator's baselines use) puts the object in, if deeper than its own."""
        if row.get("deleted_at") is not None or row.get("move") is not None:
            return None
        idle_days = (now - (row.get("last_access_at") or row["registered_at"])) / DAY_S
        deeper = int(idle_rule(np.asarray(idle_days), self.warm_after_s / DAY_S,
                               self.cold_after_s / DAY_S))
        return TIERS[deeper] if deeper > TIERS.index(Tier(row["tier"])) else None

    def decide(self, rows: list[dict[str, Any]],
               clocks: dict[str, float] | None = None) -> Iterator[Decision]:
        """Decisions for ``rows``; a tenant's now is ``clocks[tenant]``, else
        the newest access among its rows."""
        now = dict(clocks or {})
        for r in rows:
            if r["tenant"] not in (clocks or {}):
                seen = r.get("last_access_at") or r["registered_at"]
                now[r["tenant"]] = max(now.get(r["tenant"], seen), seen)
        for row in rows:
            tenant_now = now[row["tenant"]]
            tier = self.target(row, tenant_now)
            if tier is not None:
                idle_days = (tenant_now - (row.get("last_access_at") or row["registered_at"])) / DAY_S
                yield Decision.for_object(row, tier, f"idle {idle_days:.1f} days in event time "
                                          f"(rule: warm after {self.warm_after_s / DAY_S:g} d, cold "
                                          f"after {self.cold_after_s / DAY_S:g} d)", self.policy,
                                          tenant_now)


def age_rule_decisions(rule: AgeRule, read_models, store, buckets: TierBuckets, limit: int,
                       clocks: dict[str, float] | None = None) -> tuple[list[Decision], int]:
    """Decisions for up to ``limit`` objects, from the read model (lag only
    delays a decision; the mover checks the live state). Objects with no
    bytes in the store (registered without materialising) are left alone."""
    rows: list[dict[str, Any]] = []
    for tier in (Tier.HOT, Tier.WARM):
        cursor = None
        while True:
            page, cursor = read_models.list_objects(tier=tier.value, cursor=cursor, limit=1000)
            rows.extend(page)
            if not cursor:
                break
    decisions: list[Decision] = []
    absent = 0
    for d in rule.decide(rows, clocks):
        if len(decisions) >= limit:
            break
        if store.stat(buckets.of(d.source), object_name(d.tenant, d.key)) is None:
            absent += 1
            continue
        decisions.append(d)
    return decisions, absent
