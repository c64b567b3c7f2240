"""What one piece of ingest work reports, and the objects a unit of work has touched."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.domain import Aggregate

from tiering.domain.model import StoredObject


@dataclass
class IngestResult:
    accepted: int = 0
    events: int = 0
    registered: int = 0
    ignored: int = 0  # accesses to deleted keys that no PUT revived
    duplicate: bool = False  # the batch had been recorded before (a retry)

    def add(self, other: "IngestResult") -> "IngestResult":
        self.accepted += other.accepted
        self.events += other.events
        self.registered += other.registered
        self.ignored += other.ignored
        self.duplicate = self.duplicate or other.duplicate
        return self


@dataclass
class UnitOfWork:
    """The objects one piece of work has touched (``ObjectLogApplication.unit_of_work``),
    and other aggregates to record with them (``also``)."""

    touched: dict[UUID, StoredObject] = field(default_factory=dict)
    also: list[Aggregate] = field(default_factory=list)

    def touch(self, obj: StoredObject) -> StoredObject:
        self.touched[obj.id] = obj
        return obj

    def pending(self) -> list[Aggregate]:
        return [o for o in (*self.touched.values(), *self.also) if o.pending_events]
