"""The application service over StoredObject logs.

A shard owns a disjoint set of objects, so it is the only writer of their logs;
that is what lets the aggregate cache skip fast-forwarding on every read.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from tiering.domain.applied_batch import AppliedBatch, batch_uuid
from tiering.domain.ids import object_id
from tiering.domain.instance import INSTANCE_UUID, StackInstance, new_instance_id
from tiering.domain.model import StoredObject
from tiering.domain.records import AccessRecord
from tiering.domain.tiers import Tier
from tiering.domain.unit_of_work import IngestResult, UnitOfWork  # noqa: F401 - IngestResult is re-exported
from tiering.domain.windows import Segment, fold


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    kind: str
    at: float | None
    recorded_at: str
    data: dict[str, Any] = field(default_factory=dict)


_META = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class ObjectLogApplication(Application[UUID]):
    name = "tiering"
    snapshotting_intervals = {StoredObject: 200}
    env = {
        # Shards are the only writers of their objects, so cached aggregates
        # never go stale and need neither fast-forwarding nor defensive copies.
        "AGGREGATE_CACHE_MAXSIZE": "200000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """``Application.save`` without its two runtime-Protocol ``isinstance``
        checks per object: on Python 3.11 those cost about a third of a save
        (profiled on ingest), and this application only ever saves
        aggregates. Anything else takes the library's own path."""
        if kwargs or not all(isinstance(o, Aggregate) for o in objs):
            return super().save(*objs, **kwargs)
        batch: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            batch.events.extend(obj.collect_events())
            batch.aggregates[obj.id] = obj
        recordings = self._record(batch)
        self._take_snapshots(batch)
        self._notify(recordings)
        self.notify(batch.events)  # the library's deprecated hook, kept for parity
        return recordings

    # The newest event time ingested per tenant through this application; a
    # restarted shard learns it again from its next batch and from callers.
    clocks: dict[str, float]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clocks = {}

    # Set by the infrastructure: given ids, returns those with no stored
    # events, in one round trip; None means ask the repository one by one.
    existence_probe: Callable[[Iterable[UUID]], set[UUID]] | None = None

    # ----- reading -------------------------------------------------------
    def _applied(self, batch_id: str) -> AppliedBatch | None:
        try:
            found: Any = self.repository.get(batch_uuid(batch_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, AppliedBatch) else None

    def instance_id(self) -> str:
        """This store's deployment id, made on first use (``domain.instance``)."""
        for _ in range(2):
            try:
                return self.repository.get(INSTANCE_UUID).instance_id
            except AggregateNotFoundError:
                pass
            try:
                self.save(StackInstance(new_instance_id()))
            except IntegrityError:
                continue  # another process made it first: read theirs
        return self.repository.get(INSTANCE_UUID).instance_id

    def _get(self, oid: UUID) -> StoredObject | None:
        try:
            return self.repository.get(oid)
        except AggregateNotFoundError:
            return None

    def current(self, tenant: str, key: str, first_id: UUID | None = None) -> StoredObject | None:
        """The live incarnation, or the last deleted one if none is live.
        ``first_id`` is incarnation 0's id when the caller has it already."""
        found: StoredObject | None = None
        incarnation = 0
        while True:
            oid = first_id if incarnation == 0 and first_id is not None \
                else object_id(tenant, key, incarnation)
            obj = self._get(oid)
            if obj is None:
                return found
            found = obj
            if not obj.is_deleted:
                return obj
            incarnation += 1

    def history(self, tenant: str, key: str, incarnation: int | None = None) -> list[HistoryEntry]:
        obj = self.current(tenant, key)
        if obj is None:
            return []
        oid = object_id(tenant, key, obj.incarnation if incarnation is None else incarnation)
        return [self.describe(e) for e in self.events.get(oid)]

    @staticmethod
    def describe(e: DomainEventProtocol) -> HistoryEntry:
        data = {k: v for k, v in e.__dict__.items() if k not in _META}
        return HistoryEntry(e.originator_version, type(e).__name__, data.get("at", data.get("last_ts")),
                            e.timestamp.isoformat(), data)  # type: ignore[attr-defined]

    def state_at(self, tenant: str, key: str, at: float,
                 incarnation: int | None = None) -> StoredObject | None:
        """Replay the log up to event time ``at``."""
        obj = self.current(tenant, key)
        if obj is None:
            return None
        oid = object_id(tenant, key, obj.incarnation if incarnation is None else incarnation)
        version = None
        for entry in (self.describe(e) for e in self.events.get(oid)):
            if entry.at is not None and entry.at > at:
                break
            version = entry.version
        return None if version is None else self.repository.get(oid, version=version)

    # ----- ingest --------------------------------------------------------
    def ingest(self, records: Iterable[AccessRecord], batch_id: str,
               request_digest: str | None = None) -> IngestResult:
        """Fold and record one batch in a single transaction.

        With a ``request_digest`` the batch is idempotent: it is recorded with
        a marker (``AppliedBatch``), and a batch whose marker exists is not
        applied again; its first result comes back, marked ``duplicate``."""
        result = self.ingest_many([(records, batch_id, request_digest)])[0]
        assert isinstance(result, IngestResult)  # a lone batch's failure is raised
        return result

    def ingest_many(self, batches: Sequence[tuple[Iterable[AccessRecord], str, str | None]]
                    ) -> list[IngestResult | Exception]:
        """Several batches (of different requests) in one transaction: one commit
        for all of them (group commit). Each outcome is the batch's own: if one
        fails (a key reused for other records, a rule), the others are recorded
        again one transaction each, and the failure is that batch's answer. A
        lone batch's failure is raised."""
        parts = [(list(records), batch_id, digest) for records, batch_id, digest in batches]
        try:
            with self.unit_of_work() as uow:
                results: list[IngestResult | Exception] = [self._ingest_into(uow, *p) for p in parts]
        except Exception:
            if len(parts) == 1:
                raise
            results = []
            for p in parts:
                try:
                    results.append(self.ingest(*p))
                except Exception as e:  # noqa: BLE001 - this batch's answer, not the others'
                    results.append(e)
            return results
        for records, _, _ in parts:
            for r in records:
                if r.ts > self.clocks.get(r.tenant, float("-inf")):
                    self.clocks[r.tenant] = r.ts
        return results

    def _ingest_into(self, uow: "UnitOfWork", records: list[AccessRecord], batch_id: str,
                     request_digest: str | None) -> IngestResult:
        if request_digest is not None:
            seen = self._applied(batch_id) or next(
                (m for m in uow.also if isinstance(m, AppliedBatch) and m.batch_id == batch_id), None)
            if seen is not None:
                seen.check_same(request_digest)
                return IngestResult(**{**seen.result, "duplicate": True})
        result = IngestResult(accepted=len(records))
        events_before = sum(len(o.pending_events) for o in uow.pending())
        mine: dict[UUID, StoredObject] = {}
        try:
            folded = fold(records)
            # uuid5 is a SHA-1 per call: derive each key's id once per batch.
            ids = {tk: object_id(*tk) for tk in folded}
            absent = self._known_absent(ids.values())
            for (tenant, key), segments in folded.items():
                oid = ids[(tenant, key)]
                obj = uow.touched.get(oid) or (None if oid in absent else self.current(tenant, key, oid))
                for seg in segments:
                    obj = self._apply_segment(obj, seg, batch_id, result, mine)
        finally:
            uow.touched.update(mine)  # evicted with the rest if the work fails
        result.events = sum(len(o.pending_events) for o in uow.pending()) - events_before
        result.duplicate = not result.events and bool(mine)
        if request_digest is not None:
            uow.also.append(AppliedBatch(batch_id, request_digest, asdict(result)))
        return result

    def tenant_now(self, tenant: str, known: float | None = None) -> float | None:
        """The tenant's event-time now as this application knows it: the
        newest record it has ingested for the tenant, or what the caller
        knows (``known``), whichever is later. Wall time never enters: a
        replay months in the past stamps its moves in those months."""
        mine = self.clocks.get(tenant)
        if known is None or (mine is not None and mine > known):
            return mine
        return float(known)

    def _known_absent(self, ids: Iterable[UUID]) -> set[UUID]:
        if self.existence_probe is None:
            return set()
        cache = self.repository.cache
        unknown = []
        for oid in ids:
            try:
                if cache is not None:
                    cache.get(oid)
                    continue
            except KeyError:
                pass
            unknown.append(oid)
        return self.existence_probe(unknown) if unknown else set()

    def _apply_segment(self, obj: StoredObject | None, seg: Segment, batch_id: str,
                       result: IngestResult, touched: dict[UUID, StoredObject]) -> StoredObject | None:
        w = seg.window
        fresh = obj is None or obj.is_deleted
        if fresh and obj is not None and not seg.starts_with_put:
            result.ignored += w.total + seg.ignored
            return obj
        if fresh:
            size = seg.last_put_size if seg.starts_with_put else seg.max_size_seen
            obj = StoredObject(
                tenant=seg.tenant, key=seg.key,
                incarnation=0 if obj is None else obj.incarnation + 1,
                size=int(size or 0), etag=None, tier=Tier.HOT.value, at=w.first_ts,
                origin="put" if seg.starts_with_put else "observed")
            result.registered += 1
        assert obj is not None  # registered just above when fresh
        touched[obj.id] = obj
        recorded = obj.record_accesses(batch_id, w)
        if recorded:
            registering_put = 1 if fresh and seg.starts_with_put else 0
            if seg.puts > registering_put and seg.last_put_size is not None \
                    and seg.last_put_ts is not None:
                obj.overwrite(seg.last_put_size, None, seg.last_put_ts)
            if seg.deleted_at is not None:
                obj.delete(seg.deleted_at)
        result.ignored += seg.ignored
        return obj

    @contextmanager
    def unit_of_work(self) -> Iterator["UnitOfWork"]:
        """Commands on several objects, recorded in one transaction at the end.

        Every path that changes objects goes through here. Cached aggregates
        are changed in place before their events are stored, so if anything
        fails (a rule, the save itself) every object the work touched is
        evicted: the next read reloads what was actually recorded, and a
        retry sees the object as it is, not ahead of the store.
        """
        uow = UnitOfWork()
        try:
            yield uow
            pending = uow.pending()
            if pending:
                self.save(*pending)
        except BaseException:
            self._evict(uow.touched)
            raise

    def _evict(self, touched: dict[UUID, StoredObject]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for oid in touched:
            try:
                cache.get(oid, evict=True)
            except KeyError:
                pass

    # ----- commands on one object ----------------------------------------
    def command(self, tenant: str, key: str, action: Callable[[StoredObject], Any]) -> Any:
        """Run one command against the live incarnation and record its events."""
        obj = self.current(tenant, key)
        if obj is None:
            raise KeyError(f"{tenant}/{key}")
        with self.unit_of_work() as uow:
            return action(uow.touch(obj))

    def iter_objects(self, ids: Iterable[UUID]) -> Iterator[StoredObject]:
        for oid in ids:
            obj = self._get(oid)
            if obj is not None:
                yield obj
