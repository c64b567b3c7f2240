"""The StoredObject aggregate: one append-only log per stored object."""

from __future__ import annotations

import sys
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from tiering.domain.ids import object_id
from tiering.domain.tiers import Tier
from tiering.domain.vocabulary import MOVE_STEPS, Disposition
from tiering.domain.windows import AccessWindow


class DomainRuleError(Exception):
    """A command that the object's rules forbid; nothing was recorded."""


class ObjectDeleted(DomainRuleError):
    pass


class MoveInFlight(DomainRuleError):
    pass


class AlreadyInTier(DomainRuleError):
    pass


class UnknownMove(DomainRuleError):
    pass


class IllegalMoveStep(DomainRuleError):
    pass


class UnknownDecision(DomainRuleError):
    pass


class DecisionNotPending(DomainRuleError):
    pass


DISPOSITIONS = tuple(Disposition)


class _Stamped(Aggregate.Event):
    """An event stamped with its tenant's event time when it was recorded.

    Version 1 of these carried wall time in ``at`` (a second clock beside the
    event time of accesses); that value is not an event time and is dropped:
    ``at=None`` reads as "recorded after the event before it". Wall time stays
    available as the stored event's own timestamp.
    """

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["at"] = None


class StoredObject(Aggregate):
    """One object's log. Every event states the event time of what it records
    (``at``; ``last_ts`` for folded accesses), on one clock: that of the
    records ingested for its tenant. A log never goes back in event time for
    what it stamps itself (moves, answers, decisions): ``log_time`` is the
    newest event time in the log, and a stamp earlier than it is raised to it,
    so reading a log up to event time T is reading a prefix of it."""

    # v2 added ``log_time``; a v1 snapshot's is its newest event-time field.
    # v3 added ``operator_move``; earlier snapshots name none.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        rec = state.get("recommendation") or {}
        times = [state.get("registered_at"), state.get("last_access_at"), state.get("deleted_at"),
                 rec.get("at")]
        state["log_time"] = max(t for t in times if t is not None)
        if state.get("move"):  # its request was stamped in wall time, as _Stamped drops
            state["move"] = {**state["move"], "requested_at": None}

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["operator_move"] = None

    class Registered(Aggregate.Created):
        # v2 added ``origin``; v1 events were only ever written by PUTs.
        class_version = 2
        tenant: str
        key: str
        incarnation: int
        size: int
        etag: str | None
        tier: str
        at: float
        origin: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["origin"] = "put"

    @staticmethod
    def create_id(tenant: str, key: str, incarnation: int = 0) -> UUID:
        return object_id(tenant, key, incarnation)

    @event(Registered)
    def __init__(self, tenant: str, key: str, incarnation: int, size: int,
                 etag: str | None, tier: str, at: float, origin: str) -> None:
        self.tenant = tenant
        self.key = key
        self.incarnation = incarnation
        self.size = size
        self.etag = etag
        self._tier = Tier(tier).value  # a plain str keeps snapshots JSON-clean
        self.registered_at = at
        self.log_time = at
        self.origin = origin
        self.deleted_at: float | None = None
        self.last_access_at: float | None = None
        self.accesses_total = 0
        self.last_batch_id: str | None = None
        self.recommendation: dict[str, Any] | None = None
        self.move: dict[str, Any] | None = None  # the move in flight, if any
        self.moves_completed = 0
        # the last move an operator asked for or approved: the autopilot holds off it
        self.operator_move: dict[str, Any] | None = None

    @property
    def tier(self) -> Tier:
        return Tier(self._tier)

    def _advance(self, at: float | None) -> None:
        if at is not None and at > self.log_time:
            self.log_time = at

    def stamp(self, at: float | None) -> float:
        """The event time to record a stamped event at: ``at`` (the tenant's
        event-time now, as the caller knows it), never before the log's newest."""
        return self.log_time if at is None or at < self.log_time else float(at)

    # ----- rules ---------------------------------------------------------
    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def check_not_deleted(self) -> None:
        if self.is_deleted:
            raise ObjectDeleted(f"{self.tenant}/{self.key} was deleted; its log is closed")

    def check_move(self, move_id: str) -> dict[str, Any]:
        if self.move is None or self.move["move_id"] != move_id:
            raise UnknownMove(f"move {move_id} is not in flight for {self.tenant}/{self.key}")
        return self.move

    def _step_is_new(self, move_id: str, step: str) -> bool:
        """True if ``step`` is the next step; False if already recorded (a
        duplicate, which is a no-op); IllegalMoveStep if it skips ahead."""
        self.check_not_deleted()
        move = self.check_move(move_id)
        have = MOVE_STEPS.index(move["step"])
        want = MOVE_STEPS.index(step)
        if want <= have:
            return False
        if want != have + 1:
            raise IllegalMoveStep(f"move {move_id}: {step} cannot follow {move['step']}")
        return True

    # ----- accesses and lifecycle ----------------------------------------
    def record_accesses(self, batch_id: str, window: AccessWindow) -> bool:
        """Fold one batch's accesses in; a batch seen before is a no-op so
        that a retried ingest call never counts twice."""
        self.check_not_deleted()
        if batch_id == self.last_batch_id:
            return False
        bytes_read = window.bytes_read
        if bytes_read == 0 and window.counts.get("GET"):
            bytes_read = window.counts["GET"] * self.size
        self._accesses_recorded(batch_id, window.first_ts, window.last_ts, dict(window.counts),
                                bytes_read, window.bytes_written, window.latency_sum_ms,
                                window.latency_max_ms, window.latency_n)
        return True

    @event("AccessesRecorded")
    def _accesses_recorded(self, batch_id: str, first_ts: float, last_ts: float,
                           counts: dict[str, int], bytes_read: int, bytes_written: int,
                           latency_sum_ms: float, latency_max_ms: float, latency_n: int) -> None:
        self.last_batch_id = batch_id
        self.accesses_total += sum(counts.values())
        if self.last_access_at is None or last_ts > self.last_access_at:
            self.last_access_at = last_ts
        self._advance(last_ts)

    def overwrite(self, size: int, etag: str | None, at: float) -> None:
        self.check_not_deleted()
        self._overwritten(size, etag, at)

    @event("Overwritten")
    def _overwritten(self, size: int, etag: str | None, at: float) -> None:
        self.size = size
        self.etag = etag
        self._advance(at)

    def delete(self, at: float) -> None:
        self.check_not_deleted()
        self._deleted(at, self.move["move_id"] if self.move else None)

    @event("Deleted")
    def _deleted(self, at: float, abandoned_move_id: str | None) -> None:
        # A move in flight dies with the object; the reconciler removes any
        # copy it left in the target tier.
        self.deleted_at = at
        self.move = None
        self._advance(at)

    # ----- content -------------------------------------------------------
    def record_content(self, etag: str, at: float | None) -> bool:
        """The checksum (S3 ETag) of the bytes just written for the object as
        it now is; content served later is checked against it."""
        self.check_not_deleted()
        if etag == self.etag:
            return False
        self._content_written(etag, self.stamp(at))
        return True

    @event("ContentWritten")
    def _content_written(self, etag: str, at: float | None) -> None:
        self.etag = etag
        self._advance(at)

    def record_content_mismatch(self, bucket: str, found: str, at: float | None) -> None:
        """Bytes in ``bucket`` that are not the ones the log names: never served,
        kept in the log as an incident."""
        self._content_mismatch_found(bucket, self.etag, found, self.stamp(at))

    @event("ContentMismatchFound")
    def _content_mismatch_found(self, bucket: str, expected: str | None, found: str,
                                at: float | None) -> None:
        self._advance(at)

    # ----- decisions -----------------------------------------------------
    def recommend(self, target: Tier, policy_id: str, score: float,
                  reasons: list[str], at: float, decision_id: str | None = None,
                  disposition: str = "advice") -> None:
        """``disposition`` says what the decider does with it: ``publish`` (a move
        follows), ``dry`` (automatic moves are paused), ``pending`` (an operator
        approves or rejects it), ``advice`` (recorded only)."""
        self.check_not_deleted()
        if disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {DISPOSITIONS}")
        self._tier_recommended(Tier(target).value, policy_id, float(score), list(reasons),
                               self.stamp(at), decision_id, disposition, self.tier.value)

    # decision_id, disposition and source came with the decision loop; events
    # written before them apply with these defaults.
    @event("TierRecommended")
    def _tier_recommended(self, target: str, policy_id: str, score: float,
                          reasons: list[str], at: float, decision_id: str | None = None,
                          disposition: str = "advice", source: str | None = None) -> None:
        self.recommendation = {"target": target, "policy_id": policy_id, "score": score,
                               "reasons": reasons, "at": at, "decision_id": decision_id,
                               "disposition": disposition}
        self._advance(at)

    def resolve_recommendation(self, decision_id: str, outcome: str, by: str, at: float) -> bool:
        """An operator's answer to a pending decision. False if already answered
        the same way (a retried call); a different answer is refused."""
        self.check_not_deleted()
        if outcome not in ("approved", "rejected"):
            raise ValueError("outcome must be approved or rejected")
        rec = self.recommendation
        if rec is None or rec.get("decision_id") != decision_id:
            raise UnknownDecision(f"{decision_id} is not this object's latest decision")
        answered = rec.get("outcome")
        if answered == outcome:
            return False
        if answered is not None or rec.get("disposition") != "pending":
            raise DecisionNotPending(f"decision {decision_id} is {answered or rec.get('disposition')}")
        self._recommendation_resolved(decision_id, outcome, by, self.stamp(at))
        return True

    class RecommendationResolved(_Stamped):
        decision_id: str
        outcome: str
        by: str
        at: float | None

    @event(RecommendationResolved)
    def _recommendation_resolved(self, decision_id: str, outcome: str, by: str,
                                 at: float | None) -> None:
        self.recommendation = {**(self.recommendation or {}), "outcome": outcome}
        self._advance(at)

    def _in_flight(self) -> dict[str, Any]:
        """The move in flight, which every step event but a request follows."""
        assert self.move is not None, "a move step applies only while a move is in flight"
        return self.move

    # ----- the move lifecycle --------------------------------------------
    # Every step is stamped (``stamp``) with the tenant's event time when it
    # is recorded, so a move's commit bills the new tier from that event time.
    def request_move(self, move_id: str, target: Tier, reason: str, at: float | None,
                     by: str | None = None) -> bool:
        """Returns False for a duplicate request of the move in flight. ``by``:
        the operator who asked for it or approved it (None: a policy)."""
        self.check_not_deleted()
        target = Tier(target)
        if self.move is not None:
            if self.move["move_id"] == move_id:
                return False
            raise MoveInFlight(f"move {self.move['move_id']} is still in flight")
        if target is self.tier:
            raise AlreadyInTier(f"{self.tenant}/{self.key} is already in {target.value}")
        self._move_requested(move_id, self.tier.value, target.value, reason, self.stamp(at),
                             self.etag, self.size, by)
        return True

    class MoveRequested(_Stamped):
        # v3 added ``by``, the operator's identity; earlier requests name nobody.
        class_version = 3
        move_id: str
        source: str
        target: str
        reason: str
        at: float | None
        source_etag: str | None
        source_size: int
        by: str | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["by"] = None

    @event(MoveRequested)
    def _move_requested(self, move_id: str, source: str, target: str, reason: str,
                        at: float | None, source_etag: str | None, source_size: int,
                        by: str | None = None) -> None:
        self.move = {"move_id": move_id, "source": source, "target": target,
                     "step": "requested", "source_etag": source_etag,
                     "source_size": source_size, "requested_at": at}
        if by is not None:
            self.operator_move = {"target": target, "at": at, "by": by}
        self._advance(at)

    def record_copied(self, move_id: str, at: float | None) -> bool:
        if not self._step_is_new(move_id, "copied"):
            return False
        self._move_copied(move_id, self.stamp(at))
        return True

    class MoveCopied(_Stamped):
        move_id: str
        at: float | None

    @event(MoveCopied)
    def _move_copied(self, move_id: str, at: float | None) -> None:
        self.move = {**self._in_flight(), "step": "copied"}
        self._advance(at)

    def record_verified(self, move_id: str, checksum: str, at: float | None) -> bool:
        if not self._step_is_new(move_id, "verified"):
            return False
        self._move_verified(move_id, checksum, self.stamp(at))
        return True

    class MoveVerified(_Stamped):
        move_id: str
        checksum: str
        at: float | None

    @event(MoveVerified)
    def _move_verified(self, move_id: str, checksum: str, at: float | None) -> None:
        self.move = {**self._in_flight(), "step": "verified", "checksum": checksum}
        self._advance(at)

    def commit_move(self, move_id: str, at: float | None) -> bool:
        if not self._step_is_new(move_id, "committed"):
            return False
        self._move_committed(move_id, self.check_move(move_id)["target"], self.stamp(at))
        return True

    class MoveCommitted(_Stamped):
        move_id: str
        tier: str
        at: float | None

    @event(MoveCommitted)
    def _move_committed(self, move_id: str, tier: str, at: float | None) -> None:
        self._tier = tier
        self.move = {**self._in_flight(), "step": "committed"}
        self._advance(at)

    def record_source_reclaimed(self, move_id: str, at: float | None) -> bool:
        if not self._step_is_new(move_id, "reclaimed"):
            return False
        self._source_reclaimed(move_id, self.stamp(at))
        return True

    class MoveSourceReclaimed(_Stamped):
        move_id: str
        at: float | None

    @event(MoveSourceReclaimed)
    def _source_reclaimed(self, move_id: str, at: float | None) -> None:
        self.move = None
        self.moves_completed += 1
        self._advance(at)

    def _check_can_end(self, move_id: str) -> bool:
        self.check_not_deleted()
        if self.move is None:
            return False  # already ended: a duplicate outcome is a no-op
        move = self.check_move(move_id)
        if move["step"] == "committed":
            raise IllegalMoveStep(f"move {move_id} is committed; only reclaiming may follow")
        return True

    def abort_move(self, move_id: str, reason: str, at: float | None) -> bool:
        if not self._check_can_end(move_id):
            return False
        self._move_aborted(move_id, reason, self.stamp(at))
        return True

    class MoveAborted(_Stamped):
        move_id: str
        reason: str
        at: float | None

    @event(MoveAborted)
    def _move_aborted(self, move_id: str, reason: str, at: float | None) -> None:
        self.move = None
        self._advance(at)

    def fail_move(self, move_id: str, reason: str, attempts: int, at: float | None) -> bool:
        if not self._check_can_end(move_id):
            return False
        self._move_failed(move_id, reason, attempts, self.stamp(at))
        return True

    class MoveFailed(_Stamped):
        move_id: str
        reason: str
        attempts: int
        at: float | None

    @event(MoveFailed)
    def _move_failed(self, move_id: str, reason: str, attempts: int, at: float | None) -> None:
        self.move = None
        self._advance(at)


# Logs written before the packages moved under ``tiering`` name this module
# "domain.model" in their events' and snapshots' topics.
register_topic("domain.model", sys.modules[__name__])
