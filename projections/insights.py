"""Read-side answers the dashboard needs beyond /metrics.

Every query is bounded: aggregates over the per-tenant tables, or a range of
an index with a LIMIT. None of them reads the event log, and none returns a
row per object except ``top_objects``, which returns at most ``limit``.
"""

from __future__ import annotations

from typing import Any

from tiering.domain.clock import DAY_S, HOUR_S
from tiering.domain.costs import IT_PRICES, MONTH_S, SMALL_OBJECT_BYTES, CostModel, monitoring_fee_usd
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.queries import ReadModels

MAX_HOURS = 14 * 24  # two weeks of hourly bars is the widest chart we draw
MAX_TOP = 100
# rm_movements statuses grouped into the outcome a chart shows; anything else
# (requested, copied, verified, committed) is still in flight.
OUTCOMES = {"reclaimed": "completed", "failed": "failed", "aborted": "aborted",
            "abandoned": "abandoned"}


def _clamp(value: int, most: int) -> int:
    return max(1, min(int(value), most))


class Insights:
    """Over the read models: their tables, their prices (with tenant and prefix overrides)
    and their /metrics figures, which the cost comparison starts from."""

    def __init__(self, read_models: ReadModels):
        self.rm = read_models
        self.db = read_models.db

    def tenants(self, limit: int = 1000) -> list[str]:
        """Tenants that hold or held objects; rm_tier_stats has one row per tenant and tier."""
        return [r[0] for r in self.db.fetchall(
            f"SELECT DISTINCT tenant FROM rm_tier_stats ORDER BY tenant LIMIT {_clamp(limit, 1000)}")]

    # ----- moves ---------------------------------------------------------
    def moves_per_hour(self, hours: int = 48, tenant: str | None = None) -> dict[str, Any]:
        """Moves by the hour they were requested and how they ended, over the
        ``hours`` up to the newest request (a range of rm_movements_time)."""
        hours = _clamp(hours, MAX_HOURS)
        scope, params = ("", []) if tenant is None else (" AND tenant = ?", [tenant])
        newest = self.db.fetchone("SELECT MAX(requested_at) FROM rm_movements"
                                  + (" WHERE tenant = ?" if tenant is not None else ""), params)[0]
        if newest is None:
            return {"hours": hours, "items": []}
        start_hour = int(newest // HOUR_S) - hours + 1
        # PostgreSQL rounds when casting to an integer; SQLite truncates. Event
        # times are positive, so FLOOR there and truncation here agree.
        hour = ("CAST(FLOOR(requested_at / 3600) AS BIGINT)" if self.db.dialect == "postgres"
                else "CAST(requested_at / 3600 AS INTEGER)")
        outcome = "CASE status " + " ".join(f"WHEN '{s}' THEN '{o}'" for s, o in OUTCOMES.items()) \
            + " ELSE 'in_flight' END"
        rows = self.db.fetchall(
            f"SELECT {hour} AS h, {outcome} AS outcome, COUNT(*) FROM rm_movements"
            f" WHERE requested_at >= ?{scope} GROUP BY h, outcome ORDER BY h, outcome",
            [start_hour * HOUR_S, *params])
        return {"hours": hours, "items": [{"hour": int(h) * HOUR_S, "outcome": o, "moves": int(n)}
                                          for h, o, n in rows]}

    # ----- accesses ------------------------------------------------------
    def top_objects(self, hours: int = 24, limit: int = 20,
                    tenant: str | None = None) -> dict[str, Any]:
        """The ``limit`` live objects with most accesses in the ``hours`` of
        event time up to the newest event (rm_access_buckets keeps 7 days).

        Buckets are summed per object first (their primary key's order, so no
        sort), only the top ones are joined to rm_objects. The sum reads every
        bucket row, linear in the objects accessed within a week: the API
        serves it from a cache refreshed in the background.
        """
        hours, limit = _clamp(hours, 7 * 24), _clamp(limit, MAX_TOP)
        newest = self.rm.event_time()
        if newest is None:
            return {"hours": hours, "event_time": None, "items": []}
        cut = int(newest // HOUR_S) - hours
        if tenant is None:
            # Deleted objects keep their buckets until they age out; a few
            # spare rows make up for any of them among the top.
            scope, params, inner = "", [], limit * 2 + 10
        else:
            scope = (" AND object_id IN (SELECT object_id FROM rm_objects"
                     " WHERE tenant = ? AND deleted_at IS NULL)")
            params, inner = [tenant], limit
        rows = self.db.fetchdicts(
            "SELECT o.tenant, o.key, o.tier, o.size, o.last_access_at, b.accesses FROM"
            " (SELECT object_id, SUM(accesses) AS accesses FROM rm_access_buckets"
            f" WHERE hour > ?{scope} GROUP BY object_id ORDER BY accesses DESC, object_id"
            f" LIMIT {inner}) b JOIN rm_objects o ON o.object_id = b.object_id"
            f" WHERE o.deleted_at IS NULL ORDER BY b.accesses DESC, o.tenant, o.key LIMIT {limit}",
            [cut, *params])
        for r in rows:
            r["accesses"] = int(r["accesses"])
        return {"hours": hours, "event_time": newest, "items": rows}

    # ----- cost ----------------------------------------------------------
    def cost_comparison(self, tenant: str | None = None,
                        metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        """Monthly cost now (``/metrics``' figure, passed in when the caller has
        it), against keeping everything hot and against S3 Intelligent-Tiering,
        from the per-tenant-and-tier aggregates (split by price scope) only.

        Intelligent-Tiering is estimated by placing each tier's objects in its
        matching access tier (hot: frequent, warm: infrequent, cold: archive
        instant): both it and we move objects down as they go idle. Objects
        of 128 KiB or less (``is_small_object``) always stay in its frequent
        tier and pay no monitoring fee. Requests are billed at Standard prices; there are no retrieval,
        transition or early-deletion charges. Request counts become a monthly
        rate over the event time seen, as /metrics does.
        """
        m = metrics if metrics is not None else self.rm.metrics(tenant)
        hot = Tier.HOT.value
        it = CostModel(IT_PRICES)
        always_hot_storage = it_storage = hot_requests = it_requests = 0.0
        monitored = 0
        # Split by price scope (prefix overrides) as /metrics is; the
        # Intelligent-Tiering figures are sums, the same either way.
        for prices, r in self.rm.priced("rm_tier_stats", tenant):
            big_bytes, big_objects = r["bytes"] - r["small_bytes"], r["objects"] - r["small_objects"]
            always_hot_storage += prices.monthly_storage_usd(hot, r["bytes"], r["objects"])
            it_storage += it.monthly_storage_usd(r["tier"], big_bytes, big_objects, 0, 0)
            it_storage += it.monthly_storage_usd(hot, r["small_bytes"], r["small_objects"])
            monitored += big_objects
        for prices, r in self.rm.priced("rm_cost", tenant):
            for op, col in schema.OP_COLUMNS.items():
                hot_requests += prices.request_usd(hot, op, r[col])
                it_requests += it.request_usd(hot, op, r[col])
        cost = m["cost"]
        per_month = MONTH_S / max(cost["observed_s"], DAY_S)  # under a day is too little to extrapolate
        it_monitoring = monitoring_fee_usd(monitored, MONTH_S)
        return {
            "tenant": tenant, "observed_s": cost["observed_s"],
            "ours_usd_per_month": m["monthly_cost_usd"],
            "always_hot_usd_per_month": always_hot_storage + hot_requests * per_month,
            "intelligent_tiering_usd_per_month": it_storage + it_monitoring
            + it_requests * per_month,
            "parts": {
                "ours": {"storage": cost["storage_usd_per_month"],
                         "charges": cost["accrued_usd_per_month"]},
                "always_hot": {"storage": always_hot_storage, "requests": hot_requests * per_month},
                "intelligent_tiering": {"storage": it_storage, "monitoring": it_monitoring,
                                        "requests": it_requests * per_month,
                                        "monitored_objects": monitored},
            },
            "small_object_bytes": SMALL_OBJECT_BYTES,
        }
