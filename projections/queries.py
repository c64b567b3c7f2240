"""Reads over the rm_ tables; nothing here touches the event log.

Pages use keyset pagination with opaque cursors, so a deep page costs what
the first one does. ``metrics`` reads only the aggregate tables: per tenant
and tier, and per tenant, price-override prefix and tier (projections.scopes).
"""

from __future__ import annotations

import json

from tiering.config import Settings
from tiering.domain.clock import DAY_S, HOUR_S
from tiering.domain.costs import MONTH_S, CostModel
from tiering.domain.ids import object_id
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.cursors import clamp_limit, decode_cursor, encode_cursor, prefix_end
from tiering.projections.db import ReadModelDB
from tiering.projections.page import cost_usd, tenant_clock_name
from tiering.projections.scopes import StoredPolicy, priced_rows

MAX_SNAPSHOTS = 10_000  # a chart's worth of points
RECENT_WINDOWS_H = {"1h": 1, "24h": 24, "7d": 168}
_MOVE_COUNTERS = ("requested", "committed", "completed", "failed", "aborted", "abandoned",
                  "in_flight")


class ReadModels:
    def __init__(self, db: ReadModelDB, cost_model: CostModel | None = None,
                 policy: StoredPolicy | None = None):
        self.db = db
        self.costs = cost_model or CostModel()
        # Price overrides (PUT /policies) are applied when figures are read,
        # from the integer totals: no rebuild needed.
        self.policy = policy or StoredPolicy()
        schema.ensure(db)

    @classmethod
    def from_settings(cls, settings: Settings, cost_model: CostModel | None = None) -> "ReadModels":
        from tiering.adapters.eventstore import open_object_logs

        policy = StoredPolicy.of_store(open_object_logs(settings.eventstore_env()))  # retries a schema race
        return cls(ReadModelDB.from_settings(settings), cost_model, policy)

    def close(self) -> None:
        """The read-model database, and the event store the policy is read from."""
        self.db.close()
        setting = self.policy.setting
        if setting is not None and hasattr(setting.app, "close"):
            setting.app.close()

    def pricing(self, tenant: str, scope: str = "") -> CostModel:
        """The cost model for ``tenant``'s keys under ``scope`` ('': keys no
        prefix rule matches): defaults, the tenant's overrides, the prefix
        rules', resolved by ``PolicyConfig.model_for``. A stored policy this
        version cannot read keeps the defaults."""
        config = self.policy.config()
        return self.costs if config is None else config.model_for(tenant, scope)

    def priced(self, table: str, tenant: str | None = None) -> list[tuple[CostModel, dict]]:
        """rm_tier_stats or rm_cost rows split by price scope, each with its
        cost model; tenants x tiers x prefix rules rows (projections.scopes)."""
        return priced_rows(self.db, table, tenant, self.pricing)

    def position(self, name: str = schema.TRACKING_NAME) -> int:
        """The last notification id folded into these tables."""
        return schema.tracked_position(self.db, name)

    def _meta(self) -> dict[str, float]:
        return dict(self.db.fetchall("SELECT name, value FROM rm_meta"))

    def event_time(self, tenant: str | None = None) -> float | None:
        """The newest event time the read models have folded in, of the estate
        or of one tenant (None: no events)."""
        name = "event_time" if tenant is None else tenant_clock_name(tenant)
        row = self.db.fetchone("SELECT value FROM rm_meta WHERE name = ?", (name,))
        return row[0] if row else None

    def tenant_clocks(self) -> dict[str, float]:
        """Each tenant's event-time now: the newest record ingested for it."""
        prefix = tenant_clock_name("")
        # ';' follows ':' in every collation used here: a range over the prefix, no LIKE escaping
        return {name[len(prefix):]: value for name, value in self.db.fetchall(
            "SELECT name, value FROM rm_meta WHERE name >= ? AND name < ?",
            (prefix, prefix[:-1] + ";"))}

    def _page(self, table: str, conds: list[tuple[str, list]], keys: tuple[str, ...],
              descending: bool, cursor: str | None, limit: int
              ) -> tuple[list[dict], str | None]:
        """One keyset page ordered by ``keys``; the cursor holds the last keys seen."""
        if cursor:
            op = "<" if descending else ">"
            conds = [*conds, (f"({', '.join(keys)}) {op} ({', '.join('?' * len(keys))})",
                              decode_cursor(cursor, len(keys)))]
        limit = clamp_limit(limit)
        sql = f"SELECT * FROM {table}"
        if conds:
            sql += " WHERE " + " AND ".join(c for c, _ in conds)
        order = ", ".join(f"{k} DESC" if descending else k for k in keys)
        rows = self.db.fetchdicts(f"{sql} ORDER BY {order} LIMIT {limit + 1}",
                                  [p for _, params in conds for p in params])
        nxt = encode_cursor([rows[limit - 1][k] for k in keys]) if len(rows) > limit else None
        return rows[:limit], nxt

    # ----- objects -------------------------------------------------------
    def list_objects(self, tenant: str | None = None, tier: str | None = None,
                     prefix: str | None = None, include_deleted: bool = False,
                     cursor: str | None = None, limit: int = 100
                     ) -> tuple[list[dict], str | None]:
        conds: list[tuple[str, list]] = []
        if tenant is not None:
            conds.append(("tenant = ?", [tenant]))
        if tier is not None:
            conds.append(("tier = ?", [Tier.parse(tier).value]))
        if prefix:
            # A range, not LIKE, so the primary key serves it and no
            # character in the prefix needs escaping.
            conds.append(("key >= ?", [prefix]))
            end = prefix_end(prefix)
            if end is not None:
                conds.append(("key < ?", [end]))
        if not include_deleted:
            conds.append(("deleted_at IS NULL", []))
        rows, nxt = self._page("rm_objects", conds, ("tenant", "key"), False, cursor, limit)
        recent = self._recent([r["object_id"] for r in rows])
        return [self._object(r, recent.get(r["object_id"])) for r in rows], nxt

    def list_promotable(self, since: float | None, limit: int) -> list[tuple[str, str, float]]:
        """(tenant, key, last access) of the live objects in warm or cold, with
        no move in flight, last accessed after event time ``since`` (any time
        if None), newest access first: the candidates for promotion on access.
        The owning shard checks each against its log (which access, and
        whether it came after the move)."""
        where = ("tier IN ('warm', 'cold') AND move_id IS NULL AND deleted_at IS NULL"
                 " AND last_access_at IS NOT NULL")
        args: list = []
        if since is not None:
            where += " AND last_access_at > ?"
            args.append(since)
        rows = self.db.fetchall(f"SELECT tenant, key, last_access_at FROM rm_objects WHERE {where}"
                                " ORDER BY last_access_at DESC LIMIT ?", (*args, clamp_limit(limit, 10 ** 6)))
        return [(r[0], r[1], r[2]) for r in rows]

    def get_object(self, tenant: str, key: str) -> dict | None:
        rows = self.db.fetchdicts("SELECT * FROM rm_objects WHERE tenant = ? AND key = ?",
                                  (tenant, key))
        if not rows:
            return None
        return self._object(rows[0], self._recent([rows[0]["object_id"]]).get(rows[0]["object_id"]))

    def _recent(self, oids: list[str]) -> dict[str, dict[str, int]]:
        """Accesses per object in hour buckets ending at the newest event time."""
        newest = self._meta().get("event_time")
        if not oids or newest is None:
            return {}
        hour = int(newest // HOUR_S)
        names = list(RECENT_WINDOWS_H)
        sums = ", ".join("SUM(CASE WHEN hour > ? THEN accesses ELSE 0 END)" for _ in names)
        cuts = [hour - RECENT_WINDOWS_H[n] for n in names]
        sql = (f"SELECT object_id, {sums} FROM rm_access_buckets"
               f" WHERE object_id IN ({', '.join('?' * len(oids))}) AND hour > ?"
               " GROUP BY object_id")
        rows = self.db.fetchall(sql, [*cuts, *oids, min(cuts)])
        return {r[0]: {n: int(v or 0) for n, v in zip(names, r[1:])} for r in rows}

    @staticmethod
    def _object(r: dict, recent: dict[str, int] | None) -> dict:
        out = {c: r[c] for c in ("tenant", "key", "object_id", "incarnation", "tier", "tier_since",
                                 "size", "etag", "origin", "registered_at", "last_access_at",
                                 "deleted_at", "accesses_total", "bytes_read", "moves_completed",
                                 "version", "updated_at")}
        out["ops"] = {op: r[col] for op, col in schema.OP_COLUMNS.items()}
        out["move"] = None if r["move_id"] is None else {
            "move_id": r["move_id"], "target": r["move_target"], "step": r["move_step"]}
        out["recommendation"] = None if r["rec_target"] is None else {
            "target": r["rec_target"], "policy_id": r["rec_policy"], "score": r["rec_score"],
            "reasons": json.loads(r["rec_reasons"] or "[]"), "at": r["rec_at"]}
        out["recent"] = recent or dict.fromkeys(RECENT_WINDOWS_H, 0)
        return out

    def history(self, tenant: str, key: str, incarnation: int | None = None) -> list[dict]:
        """The events of one incarnation (default: the current one), oldest first."""
        if incarnation is None:
            row = self.db.fetchone("SELECT incarnation FROM rm_objects WHERE tenant = ? AND key = ?",
                                   (tenant, key))
            if row is None:
                return []
            incarnation = row[0]
        rows = self.db.fetchdicts(
            "SELECT version, kind, at, recorded_at, data FROM rm_object_history"
            " WHERE object_id = ? ORDER BY version", (str(object_id(tenant, key, incarnation)),))
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    # ----- movements and decisions: newest first, the same filters ----------
    _LOGS = {"movements": ("rm_movements", ("requested_at", "move_id"), "history"),
             "decisions": ("rm_decisions", ("decided_at", "decision_id"), "reasons")}

    def _newest_first(self, log: str, tenant: str | None, status: str | None, key: str | None,
                      cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        table, keys, json_column = self._LOGS[log]
        conds = [(f"{column} = ?", [value]) for column, value in
                 (("tenant", tenant), ("status", status), ("key", key)) if value is not None]
        rows, nxt = self._page(table, conds, keys, True, cursor, limit)
        return [_decoded(r, json_column) for r in rows], nxt

    def _one(self, log: str, id_: str) -> dict | None:
        table, keys, json_column = self._LOGS[log]
        rows = self.db.fetchdicts(f"SELECT * FROM {table} WHERE {keys[1]} = ?", (id_,))
        return _decoded(rows[0], json_column) if rows else None

    def list_movements(self, tenant: str | None = None, status: str | None = None,
                       key: str | None = None, cursor: str | None = None, limit: int = 100
                       ) -> tuple[list[dict], str | None]:
        """Newest request first."""
        return self._newest_first("movements", tenant, status, key, cursor, limit)

    def get_movement(self, move_id: str) -> dict | None:
        return self._one("movements", move_id)

    def list_decisions(self, tenant: str | None = None, status: str | None = None,
                       key: str | None = None, cursor: str | None = None, limit: int = 100
                       ) -> tuple[list[dict], str | None]:
        """Newest decision (in event time) first."""
        return self._newest_first("decisions", tenant, status, key, cursor, limit)

    def get_decision(self, decision_id: str) -> dict | None:
        return self._one("decisions", decision_id)

    # ----- metrics -------------------------------------------------------
    def metrics(self, tenant: str | None = None) -> dict:
        """Totals over every tenant (or one); cost grows with tenants x tiers x
        prefix rules, never with objects."""
        tiers = {t.value: {"objects": 0, "bytes": 0, "monthly_storage_usd": 0.0} for t in Tier}
        for prices, r in self.priced("rm_tier_stats", tenant):
            t = tiers[r["tier"]]
            t["objects"] += r["objects"]
            t["bytes"] += r["bytes"]
            t["monthly_storage_usd"] += prices.monthly_storage_usd(
                r["tier"], r["bytes"], r["objects"], r["small_objects"], r["small_bytes"])
        requests = dict.fromkeys(schema.OP_COLUMNS, 0)
        usd = dict.fromkeys(schema.COST_USD, 0.0)
        bytes_read = 0
        for prices, r in self.priced("rm_cost", tenant):
            for op, col in schema.OP_COLUMNS.items():
                requests[op] += r[col]
            bytes_read += r["bytes_read"]
            for c, v in zip(schema.COST_USD, cost_usd(prices, r["tier"], r)):
                usd[c] += v
        counters = dict.fromkeys(_MOVE_COUNTERS, 0)
        counters.update(self.db.fetchall("SELECT name, value FROM rm_counters WHERE scope = ?",
                                         (tenant or "",)))
        meta = self._meta()
        newest, first = meta.get("event_time"), meta.get("first_event_time")
        observed = (newest - first) if newest is not None else 0.0
        storage = sum(t["monthly_storage_usd"] for t in tiers.values())
        accrued = sum(usd.values())
        # Accrued charges become a monthly run rate over the event time seen;
        # less than a day of events is too little to extrapolate from.
        per_month = accrued * MONTH_S / max(observed, DAY_S)
        ended = counters["completed"] + counters["failed"]
        return {
            "tenant": tenant, "event_time": newest, "first_event_time": first,
            "objects_total": sum(t["objects"] for t in tiers.values()),
            "bytes_total": sum(t["bytes"] for t in tiers.values()),
            "tiers": tiers, "requests": requests, "bytes_read": bytes_read,
            "cost": {"storage_usd_per_month": storage, **usd, "accrued_usd": accrued,
                     "observed_s": observed, "accrued_usd_per_month": per_month},
            "monthly_cost_usd": storage + per_month,
            **{f"moves_{name}": counters[name] for name in _MOVE_COUNTERS},
            "move_success_rate": counters["completed"] / ended if ended else None,
        }

    def decision_counts(self) -> dict[str, int]:
        """Decisions recorded, by status (published, dry, pending, held, ...)."""
        return dict(self.db.fetchall("SELECT status, COUNT(*) FROM rm_decisions GROUP BY status"))

    def write_snapshot(self, taken_at: float) -> dict:
        """Record the current metrics at wall time ``taken_at`` (a scheduled
        actor calls this); returns the entry as ``metrics_history`` lists it."""
        m = self.metrics()
        self.db.execute(schema.upsert_sql("rm_metric_snapshots", ("taken_at", "event_time", "data"),
                                          ("taken_at",)),
                        (taken_at, m["event_time"], json.dumps(m, sort_keys=True)))
        return {"taken_at": taken_at, "event_time": m["event_time"], "metrics": m}

    def metrics_history(self, limit: int = 100, since: float | None = None) -> list[dict]:
        """The newest ``limit`` snapshots taken after ``since``, oldest first:
        ``{"taken_at", "event_time", "metrics"}`` each."""
        sql, params = "SELECT taken_at, event_time, data FROM rm_metric_snapshots", []
        if since is not None:
            sql, params = sql + " WHERE taken_at > ?", [since]
        rows = self.db.fetchall(sql + f" ORDER BY taken_at DESC LIMIT {clamp_limit(limit, MAX_SNAPSHOTS)}",
                                params)
        return [{"taken_at": t, "event_time": e, "metrics": json.loads(d)}
                for t, e, d in reversed(rows)]

    def dump(self) -> dict[str, list[tuple]]:
        """Every rm_ table's rows in a stable order (for comparing two builds)."""
        out = {}
        for table in schema.TABLES:
            order = ", ".join(str(i + 1) for i in range(len(self.db.columns(table))))
            out[table] = self.db.fetchall(f"SELECT * FROM {table} ORDER BY {order}")
        return out


def _decoded(row: dict, json_column: str) -> dict:
    return {**row, json_column: json.loads(row[json_column] or "[]")}
