"""The reconciler: finishes or rolls back interrupted moves, and removes orphans.

The event log is the truth. Moves still open are found from the log's own
notifications (only the move topics are read, from where the last run
stopped); each one that no mover is working on is driven again through the
same mover code as a fresh decision, which resumes it from the step the log
records: after the commit it deletes the leftover source and records the
reclaim; before it, it reuses an identical target copy or copies again, then
verifies, and aborts if the source has changed. Then every tier bucket is
listed and each copy the log does not name (an aborted move's target, a
committed move's source, a deleted object's bytes) is removed by the object's
shard. Afterwards each registered object is in exactly one bucket, its tier's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from tiering.adapters.bus import Decision
from tiering.adapters.eventstore import open_object_logs
from tiering.adapters.objectstore import TierBuckets, open_store, parse_object_name
from tiering.domain.ids import shard_of
from tiering.domain.model import StoredObject

log = logging.getLogger(__name__)
OPENS = get_topic(StoredObject.MoveRequested)
CLOSES = {get_topic(c) for c in (StoredObject.MoveSourceReclaimed, StoredObject.MoveAborted,
                                 StoredObject.MoveFailed, StoredObject.Deleted)}
PAGE = 5000


class Reconciler:
    def __init__(self, settings, shards: list[Any], movers: list[Any], store=None):
        self.settings = settings
        self.shards, self.movers = list(shards), list(movers)
        self.app = open_object_logs(settings.eventstore_env())  # read only; retries a schema race with peers
        self.store = store or open_store(settings)
        self.buckets = TierBuckets.from_settings(settings)
        self.position = 0
        self.open: set[UUID] = set()
        self._names: dict[UUID, tuple[str, str]] = {}
        self.last_report: dict[str, Any] | None = None

    def _scan(self) -> None:
        """Fold new move notifications into the set of moves possibly open."""
        recorder = self.app.recorder
        topics = [OPENS, *CLOSES]
        while True:
            page = recorder.select_notifications(self.position + 1, PAGE, topics=topics)
            for n in page:
                oid = UUID(str(n.originator_id))
                if n.topic == OPENS:
                    self.open.add(oid)
                else:
                    self.open.discard(oid)
                self.position = n.id
            if len(page) < PAGE:
                return

    def _name(self, oid: UUID) -> tuple[str, str]:
        if oid not in self._names:
            registered = next(iter(self.app.events.get(oid, lte=1)))
            self._names[oid] = (registered.tenant, registered.key)
        return self._names[oid]

    def _shard(self, tenant: str, key: str):
        return self.shards[shard_of(tenant, key, len(self.shards))]

    async def resume_open_moves(self) -> dict[str, int]:
        await asyncio.to_thread(self._scan)
        # The log is read before asking the movers: a move they had not begun
        # then cannot be open now, so nothing they are driving is driven twice.
        busy: set[str] = set()
        for ids in await asyncio.gather(*(m.in_progress.remote() for m in self.movers)):
            busy.update(ids)
        resumed, settled = [], 0
        for oid in list(self.open):
            tenant, key = self._name(oid)
            state = await self._shard(tenant, key).get_object.remote(tenant, key)
            if state is None or state["object_id"] != str(oid) or state["move"] is None:
                self.open.discard(oid)  # ended meanwhile (or another incarnation)
                settled += 1
                continue
            if state["move"]["move_id"] in busy:
                continue
            from tiering.actors.movers import mover_for

            mover = self.movers[mover_for(str(oid), len(self.movers))]
            resumed.append(mover.handle.remote(Decision.resuming(state).to_dict()))
        outcomes = await asyncio.gather(*resumed)
        for o in outcomes:
            if o["outcome"] in ("completed", "aborted", "failed", "skipped"):
                self.open.discard(UUID(o["object_id"]))
        return {"resumed": len(outcomes), "settled": settled,
                "outcomes": {o["move_id"]: o["outcome"] for o in outcomes}}

    async def sweep(self) -> dict[str, int]:
        """Remove every copy the log does not name, through the owning shard."""
        per_shard: dict[int, list] = defaultdict(list)
        foreign = 0
        for bucket in self.buckets.all():
            for name, _ in await asyncio.to_thread(lambda b=bucket: list(self.store.listing(b))):
                parsed = parse_object_name(name)
                if parsed is None:
                    foreign += 1  # not a name we make: somebody else's object
                    continue
                per_shard[shard_of(*parsed, len(self.shards))].append((*parsed, bucket))
        counts = {"kept": 0, "removed": 0, "unregistered": 0, "foreign": foreign}
        calls = [self.shards[i].sweep.remote(items[j:j + 2000])
                 for i, items in per_shard.items() for j in range(0, len(items), 2000)]
        for part in await asyncio.gather(*calls):
            for k, v in part.items():
                counts[k] += v
        return counts

    async def run_once(self) -> dict[str, Any]:
        report = {"moves": await self.resume_open_moves(), "copies": await self.sweep()}
        self.last_report = report
        return report

    async def run_forever(self, stop: asyncio.Event, interval_s: float) -> None:
        """Every ``interval_s`` (the caller runs it once at start)."""
        while True:
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
                return
            except asyncio.TimeoutError:
                pass
            try:
                report = await self.run_once()
                if report["moves"]["resumed"] or report["copies"]["removed"]:
                    log.info("reconciled: %s", report)
            except Exception:  # noqa: BLE001 - next period tries again
                log.exception("reconciliation failed")

    def close(self) -> None:
        self.app.close()
