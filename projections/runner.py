"""Keeps the read models caught up with the event store.

The SQLite recorder cannot subscribe, so the runner polls
``select_notifications`` after its tracked position. Each page and the new
position commit in one read-model transaction, so a crash or restart never
applies an event twice or skips one.

No event stops the read models: when a page fails for a reason other than
the database being unreachable, its events are applied one at a time, and
each one that fails is set aside in ``rm_quarantine`` with its error; the
runner goes on after it. ``/health`` is then not ok (and the webhooks tell
of it) until an operator deals with it (``tiering projections quarantine``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

from tiering.adapters.eventstore import open_object_logs
from tiering.config import Settings
from tiering.domain.costs import CostModel
from tiering.domain.model import StoredObject
from tiering.projections import schema
from tiering.projections.db import ReadModelDB
from tiering.projections.page import Prepared
from tiering.projections.projector import Projector
from tiering.projections.scopes import StoredPolicy

log = logging.getLogger(__name__)
QUARANTINE_COLUMNS = ("notification_id", "object_id", "version", "kind", "error", "quarantined_at")
# Failures of the database itself: the page is retried, its events are not to blame.
TRANSIENT: tuple[type[BaseException], ...] = (sqlite3.OperationalError, sqlite3.InterfaceError)
try:
    import psycopg

    TRANSIENT += (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # PostgreSQL support not installed
    pass


class ProjectionRunner:
    def __init__(self, settings: Settings, cost_model: CostModel | None = None,
                 name: str = schema.TRACKING_NAME, db: ReadModelDB | None = None):
        self.settings = settings
        self.name = name
        self.app = open_object_logs(settings.eventstore_env())  # retries a schema race with the shards
        self.db = db or ReadModelDB.from_settings(settings)
        self.projector = Projector(cost_model, StoredPolicy.of_store(self.app))
        # Reading and decoding the next page overlaps the current commit,
        # which spends most of its time in SQL with the GIL released.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="projection-read")
        self._ahead: tuple[int, Future] | None = None
        self._ids: dict[int, list[int]] = {}  # a page's last id -> its notification ids
        self._ensure()

    def _ensure(self) -> None:
        schema.ensure(self.db)
        built = schema.built_version(self.db)
        if built != schema.READ_MODEL_VERSION and self.position > 0:
            log.warning("read models were built by projector version %s, this is version %d: "
                        "rebuilding them from the event log", built, schema.READ_MODEL_VERSION)
            schema.drop_derived(self.db)
            schema.ensure(self.db)
        self.db.execute("INSERT INTO rm_tracking (name, position) VALUES (?, 0)"
                        " ON CONFLICT (name) DO NOTHING", (self.name,))
        self.db.execute(schema.upsert_sql("rm_meta", ("name", "value"), ("name",)),
                        ("read_model_version", schema.READ_MODEL_VERSION))

    @property
    def position(self) -> int:
        return schema.tracked_position(self.db, self.name)

    def _read(self, position: int) -> tuple[int, Sequence[Prepared], int]:
        """The page after ``position``, decoded: (its last id, its objects' events, how
        many notifications it held). Anything but an object's events (shards' batch
        markers, the instance's identity) is read past: it belongs to no object's history."""
        notifications = self.app.recorder.select_notifications(
            start=position, limit=self.settings.projection_page, inclusive_of_start=False)
        if not notifications:
            return position, [], 0
        to_event = self.app.mapper.to_domain_event
        events = [(n.id, to_event(n)) for n in notifications]
        events = [(i, e) for i, e in events if isinstance(e, StoredObject.Event)]
        self._ids[notifications[-1].id] = [i for i, _ in events]
        return (notifications[-1].id, self.projector.prepare([e for _, e in events]),
                len(notifications))

    def run_once(self) -> int:
        """Apply the next page; returns how many events it held (0: caught up)."""
        try:
            return self._run_page()
        except TRANSIENT:
            raise  # the database, not the events: the same page is tried again
        except Exception:  # noqa: BLE001 - one of the page's events cannot be applied
            self._ahead = None
            return self._one_at_a_time()

    def _run_page(self) -> int:
        ahead, self._ahead = self._ahead, None
        with self.db.transaction():
            # Touching the tracking row first makes a second runner on the
            # same database wait here instead of applying the same page.
            self.db.execute("UPDATE rm_tracking SET position = position WHERE name = ?",
                            (self.name,))
            position = self.position
            # A page read ahead is only good if nobody moved the position since.
            if ahead is not None and ahead[0] == position:
                last, prepared, held = ahead[1].result()
            else:
                last, prepared, held = self._read(position)
            self._ids.pop(last, None)
            if len(self._ids) > 8:  # pages read ahead and then not used
                self._ids.clear()
            if not held:
                # A change of the price-override prefixes re-buckets even
                # when no events arrive (projections.scopes).
                self.projector.scopes.sync(self.db)
                return 0
            if prepared:
                self.projector.apply(self.db, prepared)
            self.db.execute("UPDATE rm_tracking SET position = ? WHERE name = ?",
                            (last, self.name))
            if held == self.settings.projection_page:  # likely more behind it
                self._ahead = (last, self._reader.submit(self._read, last))
        return held

    def _one_at_a_time(self) -> int:
        """The failed page again, event by event; each that fails is quarantined."""
        with self.db.transaction():
            self.db.execute("UPDATE rm_tracking SET position = position WHERE name = ?", (self.name,))
            last, prepared, held = self._read(self.position)
        ids = self._ids.pop(last, [])
        for notification_id, p in zip(ids, prepared, strict=True):
            try:
                with self.db.transaction():
                    self.projector.apply(self.db, [p])
                    self._advance(notification_id)
            except TRANSIENT:
                raise
            except Exception as e:  # noqa: BLE001 - set aside, with what went wrong
                log.error("quarantined event %s (%s v%s of %s): %r", notification_id, p.entry.kind,
                          p.entry.version, p.oid, e)
                with self.db.transaction():
                    self.db.execute(schema.upsert_sql("rm_quarantine", QUARANTINE_COLUMNS, ("notification_id",)),
                                    (notification_id, p.oid, p.entry.version, p.entry.kind,
                                     f"{type(e).__name__}: {e}"[:1000], time.time()))
                    self._advance(notification_id)
        if held:
            with self.db.transaction():
                self._advance(last)  # past any batch markers at the page's end
        return held

    def _advance(self, position: int) -> None:
        self.db.execute("UPDATE rm_tracking SET position = ? WHERE name = ?", (position, self.name))

    def quarantined(self) -> list[dict]:
        return self.db.fetchdicts(f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM rm_quarantine"
                                  " ORDER BY notification_id")

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Apply pages until none is left; ``on_progress`` gets the position after each."""
        total = 0
        while n := self.run_once():
            total += n
            if on_progress is not None:
                on_progress(self.position)
        return total

    def run_forever(self, stop_event: threading.Event) -> None:
        failures = 0
        while not stop_event.is_set():
            try:
                n = self.run_once()
                failures = 0
            except Exception:
                # A failed page rolled back whole, so retrying from the same
                # position is safe; back off so a lasting fault does not spin.
                failures += 1
                log.exception("projection page failed (%d in a row); retrying", failures)
                stop_event.wait(min(30.0, self.settings.projection_poll_s * 2 ** failures))
                continue
            if n < self.settings.projection_page:
                stop_event.wait(self.settings.projection_poll_s)

    def rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Drop every derived rm_ table and replay the whole log.

        Readers see empty tables filling up page by page, never missing ones.
        """
        with self.db.transaction():
            schema.drop_derived(self.db)
            self._ensure()
        return self.catch_up(on_progress)

    def lag(self) -> tuple[int, int]:
        """(tracked position, newest notification id)."""
        return self.position, self.app.recorder.max_notification_id() or 0

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)
        self.db.close()
        self.app.close()
