"""Read-model tables (all prefixed ``rm_``) and the SQL generated from them.

Text that is sorted or range-scanned uses the "C" collation on PostgreSQL so
that keyset pagination and prefix ranges follow code-point order, as SQLite's
default BINARY collation does.
"""

from __future__ import annotations

from typing import Sequence

from tiering.domain.vocabulary import DISPOSITION_STATUS
from tiering.projections.db import ReadModelDB

OBJECT_COLUMNS = (
    "tenant", "key", "object_id", "incarnation", "tier", "tier_since", "size", "etag", "origin",
    "registered_at", "last_access_at", "accesses_total", "gets", "puts", "heads", "deletes",
    "copies", "bytes_read", "deleted_at", "move_id", "move_target", "move_step", "rec_target",
    "rec_policy", "rec_score", "rec_reasons", "rec_at", "moves_completed", "version", "updated_at",
)
# Bumped whenever the projector derives something differently from the same
# events; read models built by another version are rebuilt from the log.
READ_MODEL_VERSION = 2
TRACKING_NAME = "read_models"  # the rm_tracking row of the one runner that builds these tables
OP_COLUMNS = {"GET": "gets", "PUT": "puts", "HEAD": "heads", "DELETE": "deletes", "COPY": "copies"}
OBJECT_INDEXED = ("tenant", "key", "object_id", "tier")  # see INDEXES
MOVEMENT_COLUMNS = ("move_id", "object_id", "tenant", "key", "source", "target", "status", "reason",
                    "requested_at", "updated_at", "history", "error")
COST_COUNTS = ("gets", "puts", "heads", "deletes", "copies", "bytes_read", "transitions_in",
               "bytes_moved_out", "early_byte_seconds")
COST_USD = ("request_usd", "retrieval_usd", "transition_usd", "early_delete_usd")
TIER_COUNTS = ("objects", "bytes", "small_objects", "small_bytes")
DECISION_COLUMNS = ("decision_id", "object_id", "tenant", "key", "basis_version", "source", "target",
                    "policy", "score", "reasons", "decided_at", "status", "resolved_at",
                    "resolved_by")
# What the decider did with a recommendation, as GET /decisions names it.
DECISION_STATUS = {str(k): str(v) for k, v in DISPOSITION_STATUS.items()}

_B, _F, _T = "BIGINT", "DOUBLE PRECISION", "TEXT"
_OBJECT_TYPES = {"object_id": _T, "tier": _T, "etag": _T, "origin": _T, "move_id": _T,
                 "move_target": _T, "move_step": _T, "rec_target": _T, "rec_policy": _T,
                 "rec_reasons": _T, "tier_since": _F, "registered_at": _F, "last_access_at": _F,
                 "deleted_at": _F, "rec_score": _F, "rec_at": _F, "updated_at": _F}

# Tables whose rows are derived from events; a rebuild drops and replays them.
# rm_metric_snapshots is wall-clock history that no replay can recreate.
TABLES = {
    "rm_tracking": "name {K} PRIMARY KEY, position BIGINT NOT NULL",
    "rm_meta": "name {K} PRIMARY KEY, value DOUBLE PRECISION",
    "rm_objects": ", ".join(
        f"{c} {_OBJECT_TYPES.get(c, _B)}" for c in OBJECT_COLUMNS if c not in ("tenant", "key")
    ) + ", tenant {K} NOT NULL, key {K} NOT NULL, PRIMARY KEY (tenant, key)",
    "rm_access_buckets": "object_id TEXT NOT NULL, hour BIGINT NOT NULL, accesses BIGINT NOT NULL,"
                         " PRIMARY KEY (object_id, hour)",
    "rm_movements": "move_id {K} PRIMARY KEY, object_id TEXT NOT NULL, tenant {K} NOT NULL,"
                    " key {K} NOT NULL, source TEXT, target TEXT, status TEXT NOT NULL, reason TEXT,"
                    " requested_at DOUBLE PRECISION, updated_at DOUBLE PRECISION, history TEXT,"
                    " error TEXT",
    "rm_object_history": "object_id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL,"
                         " at DOUBLE PRECISION, recorded_at TEXT, data TEXT,"
                         " PRIMARY KEY (object_id, version)",
    "rm_tier_stats": "tenant {K} NOT NULL, tier TEXT NOT NULL, "
                     + ", ".join(f"{c} BIGINT NOT NULL" for c in TIER_COUNTS)
                     + ", PRIMARY KEY (tenant, tier)",
    "rm_cost": "tenant {K} NOT NULL, tier TEXT NOT NULL, "
               + ", ".join(f"{c} BIGINT NOT NULL" for c in COST_COUNTS) + ", "
               + ", ".join(f"{c} DOUBLE PRECISION NOT NULL" for c in COST_USD)
               + ", PRIMARY KEY (tenant, tier)",
    # Objects and charges under a price-override key prefix, by the longest
    # rule prefix that applies ("scope"; see projections.scopes). Rows with
    # scope '' are never stored: that remainder is rm_tier_stats/rm_cost
    # minus these rows.
    "rm_scope_stats": "tenant {K} NOT NULL, scope {K} NOT NULL, tier TEXT NOT NULL, "
                      + ", ".join(f"{c} BIGINT NOT NULL" for c in TIER_COUNTS)
                      + ", PRIMARY KEY (tenant, scope, tier)",
    "rm_scope_cost": "tenant {K} NOT NULL, scope {K} NOT NULL, tier TEXT NOT NULL, "
                     + ", ".join(f"{c} BIGINT NOT NULL" for c in COST_COUNTS)
                     + ", PRIMARY KEY (tenant, scope, tier)",
    # The prefix rules the two tables above are bucketed by (one row, JSON).
    "rm_scope_rules": "name {K} PRIMARY KEY, rules TEXT NOT NULL",
    "rm_decisions": "decision_id {K} PRIMARY KEY, object_id TEXT NOT NULL, tenant {K} NOT NULL,"
                    " key {K} NOT NULL, basis_version BIGINT NOT NULL, source TEXT, target TEXT NOT NULL,"
                    " policy TEXT, score DOUBLE PRECISION, reasons TEXT, decided_at DOUBLE PRECISION,"
                    " status TEXT NOT NULL, resolved_at DOUBLE PRECISION, resolved_by TEXT",
    "rm_counters": "scope {K} NOT NULL, name TEXT NOT NULL, value BIGINT NOT NULL,"
                   " PRIMARY KEY (scope, name)",
    "rm_metric_snapshots": "taken_at DOUBLE PRECISION PRIMARY KEY, event_time DOUBLE PRECISION,"
                           " data TEXT NOT NULL",
    # Events the projector could not apply, set aside so the ones after them
    # still are (projections.runner); a rebuild meets them again.
    "rm_quarantine": "notification_id BIGINT PRIMARY KEY, object_id TEXT NOT NULL, version BIGINT,"
                     " kind TEXT, error TEXT NOT NULL, quarantined_at DOUBLE PRECISION NOT NULL",
}
KEPT_ON_REBUILD = ("rm_metric_snapshots",)
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS rm_objects_oid ON rm_objects (object_id)",
    "CREATE INDEX IF NOT EXISTS rm_objects_tier ON rm_objects (tier, tenant, key)",
    "CREATE INDEX IF NOT EXISTS rm_movements_time ON rm_movements (requested_at, move_id)",
    "CREATE INDEX IF NOT EXISTS rm_movements_tenant ON rm_movements (tenant, requested_at, move_id)",
    "CREATE INDEX IF NOT EXISTS rm_movements_key ON rm_movements (tenant, key)",
    "CREATE INDEX IF NOT EXISTS rm_decisions_time ON rm_decisions (decided_at, decision_id)",
    "CREATE INDEX IF NOT EXISTS rm_decisions_status ON rm_decisions (status, decided_at, decision_id)",
    "CREATE INDEX IF NOT EXISTS rm_decisions_tenant ON rm_decisions (tenant, decided_at, decision_id)",
)


def _ddl(db: ReadModelDB, table: str) -> str:
    if db.dialect == "postgres":
        key_text, suffix = 'TEXT COLLATE "C"', ""
    else:
        # Every rm_ table is looked up by its primary key; without a rowid
        # that key is the table, one B-tree to write instead of two.
        key_text, suffix = "TEXT", " WITHOUT ROWID"
    return f"CREATE TABLE IF NOT EXISTS {table} ({TABLES[table].format(K=key_text)}){suffix}"


def ensure(db: ReadModelDB) -> None:
    """Create whatever is missing; safe to call from every process at start."""
    with db.transaction():
        if db.dialect == "postgres":
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
            db.execute("SELECT pg_advisory_xact_lock(hashtext('tiering_rm_schema'))")
        for table in TABLES:
            db.execute(_ddl(db, table))
        for index in INDEXES:
            db.execute(index)


def drop_derived(db: ReadModelDB) -> None:
    with db.transaction():
        for table in TABLES:
            if table not in KEPT_ON_REBUILD:
                db.execute(f"DROP TABLE IF EXISTS {table}")


def built_version(db: ReadModelDB) -> int | None:
    """The projector version that built these tables (None: built before versions were kept)."""
    row = db.fetchone("SELECT value FROM rm_meta WHERE name = 'read_model_version'")
    return None if row is None else int(row[0])


def tracked_position(db: ReadModelDB, name: str = TRACKING_NAME) -> int:
    """The last notification id folded into the rm_ tables by runner ``name``."""
    row = db.fetchone("SELECT position FROM rm_tracking WHERE name = ?", (name,))
    return row[0] if row else 0


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str],
               add: Sequence[str] = ()) -> str:
    """INSERT ... ON CONFLICT: columns in ``add`` accumulate, others overwrite."""
    sets = [f"{c} = {table}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
            for c in columns if c not in key]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT ({', '.join(key)}) {action}")


def select_in(db: ReadModelDB, sql: str, values: Sequence, chunk: int = 500) -> list[dict]:
    """``sql`` holds one ``IN ({})``; values are sent in bounded chunks."""
    values = list(values)
    rows: list[dict] = []
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        rows.extend(db.fetchdicts(sql.format(", ".join("?" * len(part))), part))
    return rows
