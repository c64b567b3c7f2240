"""The typed requests a shard runs for others: each move step, an operator's
answer, and a content mismatch found on a read.

Movers, the reconciler and the autopilot never write an object's log
themselves; they send one of these to the shard that owns the object, which
runs it in its serial order (``ShardWorker.run``), or several of them in one
transaction (``ShardWorker.run_together``). A step is a frozen dataclass: what
it needs travels as fields, and what it does is its ``run`` method, so there
is no command name to misspell and nothing to whitelist.

Every ``at`` is the caller's idea of the tenant's event time; the shard raises
it to the newest it has seen for the tenant before it stamps the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tiering.adapters.bus import Decision

if TYPE_CHECKING:
    from tiering.shards.store_steps import StoreSteps

StepAnswer = dict[str, Any]


@dataclass(frozen=True)
class RequestMove:
    """Record a decision's move once (outcomes in ``StoreSteps.request``)."""
    decision: Decision
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.request(self.decision.to_dict(), self.at)


@dataclass(frozen=True)
class RecordCopied:
    tenant: str
    key: str
    move_id: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.record(self.tenant, self.key, self.at,
                        lambda obj, at: obj.record_copied(self.move_id, at))


@dataclass(frozen=True)
class RecordVerified:
    tenant: str
    key: str
    move_id: str
    checksum: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.record(self.tenant, self.key, self.at,
                        lambda obj, at: obj.record_verified(self.move_id, self.checksum, at))


@dataclass(frozen=True)
class CommitMove:
    tenant: str
    key: str
    move_id: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.record(self.tenant, self.key, self.at,
                        lambda obj, at: obj.commit_move(self.move_id, at))


@dataclass(frozen=True)
class ReclaimSource:
    """Delete a committed move's source and record it."""
    tenant: str
    key: str
    move_id: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.reclaim(self.tenant, self.key, self.move_id, self.at)


@dataclass(frozen=True)
class EndMove:
    """Abort or fail a move that has not committed, and remove its copy."""
    tenant: str
    key: str
    move_id: str
    target: str
    how: Literal["abort", "fail"]
    reason: str
    attempts: int = 0
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.end(self.tenant, self.key, self.move_id, self.target, self.how, self.reason,
                     self.attempts, self.at)


@dataclass(frozen=True)
class DiscardCopy:
    """Remove ``bucket``'s copy unless the log names it."""
    tenant: str
    key: str
    bucket: str

    def run(self, p: "StoreSteps") -> StepAnswer:
        return {"outcome": p.discard(self.tenant, self.key, self.bucket)}


@dataclass(frozen=True)
class AnswerDecision:
    """An operator approves or rejects a pending decision."""
    tenant: str
    key: str
    decision_id: str
    outcome: Literal["approved", "rejected"]
    by: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        return p.record(self.tenant, self.key, self.at, lambda obj, at: obj.resolve_recommendation(
            self.decision_id, self.outcome, self.by, at))


@dataclass(frozen=True)
class RecordContentMismatch:
    """Bytes read from ``bucket`` did not match the checksum the log names.
    Recorded only if the log still names ``expected``: a write that raced the
    read is not an incident."""
    tenant: str
    key: str
    bucket: str
    expected: str
    found: str
    at: float | None = None

    def run(self, p: "StoreSteps") -> StepAnswer:
        def mismatch(obj: Any, at: float | None) -> bool:
            if obj.is_deleted or obj.etag != self.expected:
                return False
            obj.record_content_mismatch(self.bucket, self.found, at)
            return True
        return p.record(self.tenant, self.key, self.at, mismatch)


ShardStep = (RequestMove | RecordCopied | RecordVerified | CommitMove | ReclaimSource | EndMove
             | DiscardCopy | AnswerDecision | RecordContentMismatch)
