"""Incidents found by watching: the object logs, the health checks, the projection lag.

``IncidentWatch.tick`` tails the object logs from where it last stopped for
decisions that wait for an operator, moves that failed for good and content
that did not match its checksum, runs the health checks, and looks at the
projection lag; each finding goes to the webhooks. It starts at the log's head: what happened before it ran was
somebody else's to tell. ``run_forever`` ticks on a thread of its own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable
from uuid import UUID

from eventsourcing.utils import get_topic

from tiering.domain.model import StoredObject
from tiering.services.webhooks import Webhooks

log = logging.getLogger(__name__)
PENDING = get_topic(StoredObject.TierRecommended)  # type: ignore[attr-defined]  # made by @event
FAILED = get_topic(StoredObject.MoveFailed)
MISMATCH = get_topic(StoredObject.ContentMismatchFound)  # type: ignore[attr-defined]  # made by @event
PAGE = 1000


class IncidentWatch:
    def __init__(self, store: Any, webhooks: Webhooks, health_checks: dict[str, Callable[[], Any]],
                 lag: Callable[[], int] | None, stall_ticks: int = 6):
        self.store = store
        self.webhooks = webhooks
        self.health_checks = health_checks
        self.lag = lag
        self.stall_ticks = stall_ticks
        self.position = store.recorder.max_notification_id() or 0
        self.failing: set[str] = set()
        self._lags: list[int] = []
        self._stalled = False
        self._names: dict[UUID, tuple[str, str]] = {}

    def tick(self) -> int:
        """One look at everything; returns how many incidents it told."""
        return self._logs() + self._health() + self._projection()

    def _logs(self) -> int:
        told = 0
        while True:
            page = self.store.recorder.select_notifications(self.position + 1, PAGE, topics=[PENDING, FAILED, MISMATCH])
            for n in page:
                self.position = n.id
                e = self.store.mapper.to_domain_event(n)
                tenant, key = self._name(e.originator_id)
                if n.topic == FAILED:
                    told += bool(self.webhooks.emit(tenant, "move.failed", {
                        "key": key, "move_id": e.move_id, "reason": e.reason, "attempts": e.attempts}))
                elif n.topic == MISMATCH:
                    told += bool(self.webhooks.emit(tenant, "content.mismatch", {
                        "key": key, "bucket": e.bucket, "expected": e.expected, "found": e.found}))
                elif getattr(e, "disposition", None) == "pending":
                    told += bool(self.webhooks.emit(tenant, "decision.pending", {
                        "key": key, "decision_id": e.decision_id, "target": e.target, "reasons": e.reasons}))
            if len(page) < PAGE:
                return told

    def _name(self, oid: UUID) -> tuple[str, str]:
        if oid not in self._names:
            registered = next(iter(self.store.events.get(oid, lte=1)))
            self._names[oid] = (registered.tenant, registered.key)
        return self._names[oid]

    def _health(self) -> int:
        told = 0
        for name, check in self.health_checks.items():
            try:
                check()
            except Exception as e:  # noqa: BLE001 - a failing check is the finding
                if name not in self.failing:
                    self.failing.add(name)
                    told += bool(self.webhooks.emit("*", "health.degraded",
                                                    {"check": name, "error": type(e).__name__}))
            else:
                self.failing.discard(name)
        return told

    def _projection(self) -> int:
        """Stalled: behind, and no closer, for ``stall_ticks`` looks in a row."""
        if self.lag is None:
            return 0
        self._lags = (self._lags + [self.lag()])[-self.stall_ticks:]
        stalled = len(self._lags) == self.stall_ticks and self._lags[-1] > 0 and \
            self._lags[-1] >= self._lags[0]
        told = 0
        if stalled and not self._stalled:
            told = bool(self.webhooks.emit("*", "projection.stalled", {"lag_events": self._lags[-1]}))
        self._stalled = stalled
        return told

    def run_forever(self, stop: threading.Event, every_s: float) -> None:
        while not stop.wait(every_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("incident watch failed")
