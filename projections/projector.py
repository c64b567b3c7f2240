"""Folds a page of StoredObject events into the rm_ tables.

A page is applied in memory first: the rows it touches are loaded once, every
event mutates them or adds to per-key deltas, and each table is then written
back with one executemany (see projections.page).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from tiering.domain.application import ObjectLogApplication
from tiering.domain.costs import CostModel, is_small_object
from tiering.projections import schema
from tiering.projections.db import ReadModelDB
from tiering.projections.page import Page, Prepared, bucket_cut, spread_hours, to_json, write_page
from tiering.projections.scopes import ScopeBuckets, StoredPolicy

_ENDINGS = {"MoveAborted": "aborted", "MoveFailed": "failed"}
_EVENT_TIME_KINDS = frozenset({"Registered", "AccessesRecorded", "Overwritten", "Deleted"})


class ProjectionError(RuntimeError):
    """An event that the read model cannot place; applying it would corrupt counts."""


class Projector:
    def __init__(self, cost_model: CostModel | None = None, policy: StoredPolicy | None = None):
        self.costs = cost_model or CostModel()
        # Objects under a price-override prefix are also counted by scope
        # (projections.scopes); without a policy there are no scopes.
        self.scopes = ScopeBuckets(policy)
        self._handlers: dict[str, Callable[[Page, dict, Any, float], None]] = {
            "Registered": self._registered, "AccessesRecorded": self._accesses,
            "Overwritten": self._overwritten, "Deleted": self._deleted,
            "TierRecommended": self._recommended, "RecommendationResolved": self._resolved,
            "MoveRequested": self._move_requested,
            "MoveCopied": self._move_step, "MoveVerified": self._move_step,
            "MoveCommitted": self._move_committed, "MoveSourceReclaimed": self._move_reclaimed,
            "MoveAborted": self._move_ended, "MoveFailed": self._move_ended,
        }

    # ----- the page ------------------------------------------------------
    @staticmethod
    def prepare(events: Sequence[Any]) -> list[Prepared]:
        """The per-event work that needs no database, so a runner can do it
        for the next page while the current one commits."""
        out = []
        for e in events:
            entry = ObjectLogApplication.describe(e)
            oid = str(e.originator_id)
            out.append(Prepared(e, oid, entry, (oid, entry.version, entry.kind, entry.at,
                                                entry.recorded_at, to_json(entry.data))))
        return out

    def apply(self, db: ReadModelDB, prepared: Sequence[Prepared]) -> None:
        """Apply prepared events in notification order; the caller owns the transaction."""
        page = Page()
        self.scopes.sync(db)
        self._load(db, page, prepared)
        for p in prepared:
            e, entry = p.event, p.entry
            page.history.append(p.history_row)
            handler = self._handlers.get(entry.kind)
            if handler is None:
                continue  # kinds this model does not show still appear in history
            row = page.objects.get(p.oid)
            if row is None and entry.kind != "Registered":
                raise ProjectionError(f"{entry.kind} v{entry.version} for unknown object {p.oid}")
            at = entry.at
            if at is None:
                # A step recorded before steps were stamped in event time: it
                # happened after the event before it, at the tenant's time now.
                at = page.tenant_clock(row["tenant"]) or page.clock
            handler(page, row, e, at)
            row = page.objects[p.oid]
            row["version"], row["updated_at"] = entry.version, at
            # Ingest sets the clocks; every other event is stamped from them.
            if entry.at is not None and entry.kind in _EVENT_TIME_KINDS:
                page.saw(row["tenant"], at, getattr(e, "first_ts", at))
        write_page(db, page, self.costs)

    def _load(self, db: ReadModelDB, page: Page, prepared: Sequence[Prepared]) -> None:
        page.meta = dict(db.fetchall("SELECT name, value FROM rm_meta"))
        oids = {p.oid for p in prepared}
        for row in schema.select_in(db, "SELECT * FROM rm_objects WHERE object_id IN ({})", oids):
            page.objects[row["object_id"]] = row
            page.stored_tier[row["object_id"]] = row["tier"]
        move_ids = {getattr(p.event, "move_id", None) or getattr(p.event, "abandoned_move_id", None)
                    for p in prepared} - {None}
        for row in schema.select_in(db, "SELECT * FROM rm_movements WHERE move_id IN ({})",
                                    move_ids):
            row["history"] = json.loads(row["history"])
            page.moves[row["move_id"]] = row

    # ----- deltas shared by several events --------------------------------
    def _targets(self, wide: dict, scoped: dict, row: dict, tier: str) -> tuple:
        """The delta rows an object's figures in ``tier`` add to: its
        tenant's, and its price scope's if it has one."""
        scope = self.scopes.of(row)
        tenant_wide = wide[(row["tenant"], tier)]
        return (tenant_wide, scoped[(row["tenant"], scope, tier)]) if scope else (tenant_wide,)

    def _place(self, page: Page, row: dict, sign: int) -> None:
        """Add (+1) or remove (-1) the object's weight in its current tier."""
        small = is_small_object(row["size"])
        for d in self._targets(page.tiers, page.scope_tiers, row, row["tier"]):
            d[0] += sign
            d[1] += sign * row["size"]
            if small:
                d[2] += sign
                d[3] += sign * row["size"]

    def _charges(self, page: Page, row: dict, tier: str) -> tuple[dict[str, int], ...]:
        return self._targets(page.cost, page.scope_cost, row, tier)

    def _leave_tier(self, page: Page, row: dict, at: float) -> None:
        """The object stops being billed in its tier; minimum durations still apply."""
        self._place(page, row, -1)
        stored = max(0.0, at - (row["tier_since"] if row["tier_since"] is not None else at))
        remaining = self.costs.early_deletion_seconds(row["tier"], stored)
        if remaining:
            billable = self.costs.billable_bytes(row["tier"], row["size"])
            for cost in self._charges(page, row, row["tier"]):
                cost["early_byte_seconds"] += billable * remaining

    @staticmethod
    def _count(page: Page, tenant: str, name: str, n: int = 1) -> None:
        page.counters[("", name)] += n
        page.counters[(tenant, name)] += n

    def _move_status(self, page: Page, row: dict, move_id: str, status: str, at: float,
                  detail: Any = None, error: str | None = None) -> None:
        move = page.moves.get(move_id)
        if move is None:
            raise ProjectionError(f"{status} for unknown move {move_id}")
        move["history"].append({"status": status, "at": at, "detail": detail})
        move["status"], move["updated_at"] = status, at
        if error is not None:
            move["error"] = error
        if status in ("reclaimed", "aborted", "failed", "abandoned"):
            row["move_id"] = row["move_target"] = row["move_step"] = None
            self._count(page, row["tenant"], "in_flight", -1)
            self._count(page, row["tenant"], "completed" if status == "reclaimed" else status)
        else:
            row["move_step"] = status

    # ----- handlers --------------------------------------------------------
    def _registered(self, page: Page, _row: dict | None, e: Any, at: float) -> None:
        row = dict.fromkeys(schema.OBJECT_COLUMNS, 0)
        row.update(tenant=e.tenant, key=e.key, object_id=str(e.originator_id),
                   incarnation=e.incarnation, tier=e.tier, tier_since=at, size=e.size,
                   etag=e.etag, origin=e.origin, registered_at=at, last_access_at=None,
                   deleted_at=None, move_id=None, move_target=None, move_step=None,
                   rec_target=None, rec_policy=None, rec_score=None, rec_reasons=None,
                   rec_at=None)
        page.objects[row["object_id"]] = row
        self._place(page, row, +1)

    def _accesses(self, page: Page, row: dict, e: Any, _at: float) -> None:
        charges = self._charges(page, row, row["tier"])
        for op, n in e.counts.items():
            column = schema.OP_COLUMNS.get(op)
            if column:
                row[column] += n
                for cost in charges:
                    cost[column] += n
        total = sum(e.counts.values())
        row["accesses_total"] += total
        row["bytes_read"] += e.bytes_read
        for cost in charges:
            cost["bytes_read"] += e.bytes_read
        last = row["last_access_at"]
        if last is None or e.last_ts > last:
            row["last_access_at"] = e.last_ts
            cut = bucket_cut(e.last_ts)
            if last is not None and cut > bucket_cut(last):
                page.bucket_cuts[row["object_id"]] = cut
        for hour, n in spread_hours(e.first_ts, e.last_ts, total):
            page.buckets[(row["object_id"], hour)] += n

    def _overwritten(self, page: Page, row: dict, e: Any, _at: float) -> None:
        self._place(page, row, -1)
        row["size"], row["etag"] = e.size, e.etag
        self._place(page, row, +1)

    def _deleted(self, page: Page, row: dict, e: Any, at: float) -> None:
        self._leave_tier(page, row, at)
        row["deleted_at"] = at
        if e.abandoned_move_id:
            self._move_status(page, row, e.abandoned_move_id, "abandoned", at, "object deleted")

    def _recommended(self, page: Page, row: dict, e: Any, at: float) -> None:
        reasons = to_json(list(e.reasons))
        row.update(rec_target=e.target, rec_policy=e.policy_id, rec_score=e.score,
                   rec_reasons=reasons, rec_at=at)
        # Recommendations from before the decision loop carry no id of their own.
        did = getattr(e, "decision_id", None) or f"{row['object_id']}:{e.originator_version}"
        disposition = getattr(e, "disposition", None) or "advice"
        page.decisions[did] = {
            "decision_id": did, "object_id": row["object_id"], "tenant": row["tenant"],
            "key": row["key"], "basis_version": e.originator_version - 1,
            "source": getattr(e, "source", None) or row["tier"], "target": e.target,
            "policy": e.policy_id, "score": e.score, "reasons": reasons, "decided_at": at,
            "status": schema.DECISION_STATUS[disposition], "resolved_at": None, "resolved_by": None}

    @staticmethod
    def _resolved(page: Page, _row: dict, e: Any, at: float) -> None:
        page.resolutions.append((e.outcome, at, e.by, e.decision_id))

    def _move_requested(self, page: Page, row: dict, e: Any, at: float) -> None:
        page.moves[e.move_id] = {
            "move_id": e.move_id, "object_id": row["object_id"], "tenant": row["tenant"],
            "key": row["key"], "source": e.source, "target": e.target, "status": "requested",
            "reason": e.reason, "requested_at": at, "updated_at": at, "error": None,
            "history": [{"status": "requested", "at": at, "detail": e.reason}]}
        row.update(move_id=e.move_id, move_target=e.target, move_step="requested")
        self._count(page, row["tenant"], "requested")
        self._count(page, row["tenant"], "in_flight")

    def _move_step(self, page: Page, row: dict, e: Any, at: float) -> None:
        status = "copied" if type(e).__name__ == "MoveCopied" else "verified"
        self._move_status(page, row, e.move_id, status, at, getattr(e, "checksum", None))

    def _move_committed(self, page: Page, row: dict, e: Any, at: float) -> None:
        # The commit's event time is when the object left one tier and
        # entered the next: minimum durations are billed from it, on the same
        # clock as the accesses and deletions around it.
        when = at
        source = row["tier"]
        self._leave_tier(page, row, when)
        for cost in self._charges(page, row, source):
            cost["bytes_moved_out"] += row["size"]
        for cost in self._charges(page, row, e.tier):
            cost["transitions_in"] += 1
        row["tier"], row["tier_since"] = e.tier, when
        self._place(page, row, +1)
        self._count(page, row["tenant"], "committed")
        self._move_status(page, row, e.move_id, "committed", at)

    def _move_reclaimed(self, page: Page, row: dict, e: Any, at: float) -> None:
        row["moves_completed"] += 1
        self._move_status(page, row, e.move_id, "reclaimed", at)

    def _move_ended(self, page: Page, row: dict, e: Any, at: float) -> None:
        status = _ENDINGS[type(e).__name__]
        detail = {"reason": e.reason, "attempts": getattr(e, "attempts", None)}
        self._move_status(page, row, e.move_id, status, at, detail, error=e.reason)

