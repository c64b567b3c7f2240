"""One page of events folded in memory, and how it is written back.

Every stored value is a function of the events alone (no wall clock, no float
sums that depend on where pages begin and end), so an incremental build and a
full rebuild produce identical tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tiering.domain.application import HistoryEntry
from tiering.domain.clock import HOUR_S
from tiering.domain.costs import CostModel
from tiering.projections import schema
from tiering.projections.db import ReadModelDB

BUCKET_RETENTION_H = 7 * 24 + 1  # the widest recent window, plus the hour in progress


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def bucket_cut(last_access_at: float) -> int:
    """An object's buckets below this hour are outside every recent window.

    The cut follows the object's own newest access, which only moves forward,
    so what survives pruning is the same however the events were paged.
    """
    return int(last_access_at // HOUR_S) - BUCKET_RETENTION_H + 1


def spread_hours(first_ts: float, last_ts: float, total: int) -> list[tuple[int, int]]:
    """Split one window's accesses evenly over the hours it spans.

    The window has lost per-access times; an even split keeps hourly counts
    honest for windows that cross hours. Remainders go to the latest hours,
    and hours older than any recent window are not emitted at all.
    """
    h0, h1 = int(first_ts // HOUR_S), int(last_ts // HOUR_S)
    base, rem = divmod(total, h1 - h0 + 1)
    start = max(h0 if base else h1 - rem + 1, bucket_cut(last_ts))
    out = [(h, base + (1 if h > h1 - rem else 0)) for h in range(start, h1 + 1)]
    return [(h, n) for h, n in out if n]


@dataclass(slots=True)
class Prepared:
    event: Any
    oid: str
    entry: HistoryEntry
    history_row: tuple


class Page:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.stored_tier: dict[str, str] = {}  # tier of each object row as loaded
        self.moves: dict[str, dict] = {}
        self.decisions: dict[str, dict] = {}
        self.resolutions: list[tuple] = []  # (status, resolved_at, resolved_by, decision_id)
        self.history: list[tuple] = []
        self.buckets: dict[tuple[str, int], int] = defaultdict(int)
        self.bucket_cuts: dict[str, int] = {}  # objects whose old buckets fell out of range
        self.tiers: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 4)
        self.cost: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # the same by (tenant, scope, tier) for objects under a prefix rule
        self.scope_tiers: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * 4)
        self.scope_cost: dict[tuple[str, str, str], dict[str, int]] = \
            defaultdict(lambda: defaultdict(int))
        self.counters: dict[tuple[str, str], int] = defaultdict(int)
        self.newest: float | None = None
        self.earliest: float | None = None
        self.tenant_newest: dict[str, float] = {}  # per tenant, from this page's events
        self.meta: dict[str, float] = {}  # rm_meta as it was before this page

    @property
    def clock(self) -> float | None:
        """The estate's event time so far: rm_meta's, then this page's events."""
        known = [t for t in (self.meta.get("event_time"), self.newest) if t is not None]
        return max(known) if known else None

    def tenant_clock(self, tenant: str) -> float | None:
        """A tenant's event time so far: the newest it has ingested."""
        known = [t for t in (self.meta.get(tenant_clock_name(tenant)), self.tenant_newest.get(tenant))
                 if t is not None]
        return max(known) if known else None

    def saw(self, tenant: str, at: float, first: float) -> None:
        """An ingested event of ``tenant`` at event time ``at`` (its window from ``first``)."""
        self.newest = at if self.newest is None else max(self.newest, at)
        self.earliest = first if self.earliest is None else min(self.earliest, first)
        if at > self.tenant_newest.get(tenant, float("-inf")):
            self.tenant_newest[tenant] = at


def tenant_clock_name(tenant: str) -> str:
    """rm_meta's row for a tenant's event time."""
    return f"event_time:{tenant}"


def write_page(db: ReadModelDB, page: Page, costs: CostModel) -> None:
    _write_objects(db, page)
    cols = schema.MOVEMENT_COLUMNS
    db.executemany(schema.upsert_sql("rm_movements", cols, ("move_id",)),
                   [[to_json(m[c]) if c == "history" else m[c] for c in cols]
                    for m in page.moves.values()])
    cols = schema.DECISION_COLUMNS
    db.executemany(schema.upsert_sql("rm_decisions", cols, ("decision_id",)),
                   [[d[c] for c in cols] for d in page.decisions.values()])
    # after the inserts: a decision and its answer may arrive in one page
    db.executemany("UPDATE rm_decisions SET status = ?, resolved_at = ?, resolved_by = ?"
                   " WHERE decision_id = ?", page.resolutions)
    db.executemany(schema.upsert_sql("rm_object_history", ("object_id", "version", "kind", "at",
                                                           "recorded_at", "data"),
                                     ("object_id", "version")), page.history)
    _write_buckets(db, page)
    db.executemany(schema.upsert_sql("rm_tier_stats", ("tenant", "tier", *schema.TIER_COUNTS),
                                     ("tenant", "tier"), add=schema.TIER_COUNTS),
                   [(*k, *v) for k, v in page.tiers.items()])
    db.executemany(schema.upsert_sql("rm_counters", ("scope", "name", "value"),
                                     ("scope", "name"), add=("value",)),
                   [(*k, v) for k, v in page.counters.items()])
    _write_cost(db, page, costs)
    _write_scoped(db, page)
    _write_meta(db, page)


def _write_scoped(db: ReadModelDB, page: Page) -> None:
    key = ("tenant", "scope", "tier")
    if page.scope_tiers:
        db.executemany(schema.upsert_sql("rm_scope_stats", (*key, *schema.TIER_COUNTS), key,
                                         add=schema.TIER_COUNTS),
                       [(*k, *v) for k, v in page.scope_tiers.items()])
        # Rows hold live objects only, as a re-bucketing scan finds them.
        db.execute("DELETE FROM rm_scope_stats WHERE objects = 0")
    if page.scope_cost:
        db.executemany(schema.upsert_sql("rm_scope_cost", (*key, *schema.COST_COUNTS), key,
                                         add=schema.COST_COUNTS),
                       [(*k, *(d.get(c, 0) for c in schema.COST_COUNTS))
                        for k, d in page.scope_cost.items()])


def _write_objects(db: ReadModelDB, page: Page) -> None:
    latest: dict[tuple[str, str], dict] = {}
    for row in page.objects.values():  # a new incarnation replaces the row
        k = (row["tenant"], row["key"])
        if k not in latest or row["incarnation"] > latest[k]["incarnation"]:
            latest[k] = row
    # Most rows keep their indexed columns; leaving those out of the SET
    # spares SQLite rewriting index entries, a large share of each commit.
    narrow = [r for r in latest.values() if page.stored_tier.get(r["object_id"]) == r["tier"]]
    wide = [r for r in latest.values() if page.stored_tier.get(r["object_id"]) != r["tier"]]
    cols = [c for c in schema.OBJECT_COLUMNS if c not in schema.OBJECT_INDEXED]
    db.executemany(f"UPDATE rm_objects SET {', '.join(c + ' = ?' for c in cols)}"
                   " WHERE tenant = ? AND key = ?",
                   [[r[c] for c in (*cols, "tenant", "key")] for r in narrow])
    cols = schema.OBJECT_COLUMNS
    db.executemany(schema.upsert_sql("rm_objects", cols, ("tenant", "key")),
                   [[r[c] for c in cols] for r in wide])


def _write_buckets(db: ReadModelDB, page: Page) -> None:
    by_cut: dict[int, list[str]] = defaultdict(list)
    for oid, cut in page.bucket_cuts.items():  # objects accessed in one hour share a cut
        by_cut[cut].append(oid)
    for cut, oids in by_cut.items():
        for i in range(0, len(oids), 500):
            part = oids[i:i + 500]
            db.execute(f"DELETE FROM rm_access_buckets WHERE hour < ? AND object_id IN"
                       f" ({', '.join('?' * len(part))})", (cut, *part))
    cuts = {oid: bucket_cut(page.objects[oid]["last_access_at"]) for oid, _ in page.buckets}
    db.executemany(schema.upsert_sql("rm_access_buckets", ("object_id", "hour", "accesses"),
                                     ("object_id", "hour"), add=("accesses",)),
                   [(oid, h, n) for (oid, h), n in page.buckets.items() if h >= cuts[oid]])


def _write_cost(db: ReadModelDB, page: Page, costs: CostModel) -> None:
    # Dollars are recomputed from integer totals, never summed, so they do
    # not depend on how events were split into pages.
    if not page.cost:
        return
    tenants = {t for t, _ in page.cost}
    have = {(r["tenant"], r["tier"]): r for r in schema.select_in(
        db, "SELECT * FROM rm_cost WHERE tenant IN ({})", tenants)}
    rows = []
    for (tenant, tier), delta in page.cost.items():
        old = have.get((tenant, tier), {})
        t = {c: (old.get(c) or 0) + delta.get(c, 0) for c in schema.COST_COUNTS}
        rows.append((tenant, tier, *(t[c] for c in schema.COST_COUNTS),
                     *cost_usd(costs, tier, t)))
    cols = ("tenant", "tier", *schema.COST_COUNTS, *schema.COST_USD)
    db.executemany(schema.upsert_sql("rm_cost", cols, ("tenant", "tier")), rows)


def cost_usd(c: CostModel, tier: str, t: dict[str, int]) -> tuple[float, float, float, float]:
    request = sum(c.request_usd(tier, op, t[col]) for op, col in schema.OP_COLUMNS.items())
    return (request, c.retrieval_usd(tier, t["bytes_read"] + t["bytes_moved_out"]),
            c.transition_usd(tier, t["transitions_in"]),
            c.storage_usd(tier, t["early_byte_seconds"]))


def _write_meta(db: ReadModelDB, page: Page) -> None:
    if page.newest is None:
        return
    first = page.meta.get("first_event_time")
    earliest = page.earliest if first is None else min(page.earliest, first)
    db.executemany(schema.upsert_sql("rm_meta", ("name", "value"), ("name",)),
                   [("event_time", page.clock), ("first_event_time", earliest)]
                   + [(tenant_clock_name(t), page.tenant_clock(t)) for t in page.tenant_newest])
