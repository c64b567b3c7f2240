"""The event store adapter: the object logs on SQLite or PostgreSQL, opened
with this product's adjustments to eventsourcing's recorders.

The adjustments are applied as the application builds its recorder: the
library's classes stay (callers recognise the store by them), and only the
behaviour named below changes. The domain's ``ObjectLogApplication`` knows
none of this; every process that opens the store does it here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import retry

from tiering.adapters.retrying import retrying
from tiering.domain.application import ObjectLogApplication
from tiering.domain.governance import GovernanceLog


class ObjectLogStore(ObjectLogApplication):
    """``ObjectLogApplication`` on a real event store, with the recorder adjusted."""

    def construct_recorder(self) -> ApplicationRecorder:
        return adapt_recorder(super().construct_recorder(), self.env)


def open_object_logs(env: Mapping[str, str], *, create_tables: bool = True,
                     attempts: int = 5) -> ObjectLogStore:
    """Open the store. Processes started together pass ``create_tables=False``
    once one of them has made the schema: PostgreSQL DDL, even with IF NOT
    EXISTS, fails when run concurrently. A race that still happens (peers
    starting on a fresh database) is retried."""
    env = dict(env)
    if not create_tables:
        env["CREATE_TABLE"] = "false"
    for attempt in retrying(PersistenceError, attempts=attempts, first_s=0.2, max_s=2.0):
        with attempt:
            return ObjectLogStore(env=env)
    raise AssertionError("unreachable: the last failure is re-raised")


def adapt_recorder(recorder: ApplicationRecorder, env: Mapping[str, str]) -> ApplicationRecorder:
    cache_mb = env.get("SQLITE_CACHE_MB")
    pool = getattr(getattr(recorder, "datastore", None), "pool", None)
    if cache_mb and hasattr(pool, "_create_connection"):
        pool._create_connection = _with_page_cache(pool._create_connection, int(cache_mb))
        for idle in list(getattr(pool, "_pool", ())):  # made while creating the tables
            _set_page_cache(idle, int(cache_mb))
    # The module is loaded iff the store is PostgreSQL.
    postgres = sys.modules.get("eventsourcing.postgres")
    if postgres is not None and isinstance(recorder, postgres.PostgresApplicationRecorder):
        recorder.insert_events = _record_without_pipeline(recorder)  # type: ignore[method-assign]
    return recorder


def _record_without_pipeline(recorder: Any) -> Callable[..., Any]:
    """``insert_events`` for eventsourcing's PostgreSQL application recorder,
    with the same statements in one transaction but outside psycopg's
    pipeline mode.

    The library sends them as a pipeline and calls ``Pipeline.sync()``. In
    psycopg 3.3 that can wait forever: when the server is slow to drain the
    socket, libpq sends only part of a large batch, psycopg then waits only
    for the server's answer, and the server waits for the rest of the batch
    (its backend shows ``active``, ``ClientRead``, holding the events table's
    EXCLUSIVE lock). Plain execution flushes every statement completely; the
    extra round trips cost little next to a batch of thousands of events.
    """
    insert_pipelined = recorder.insert_events

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(stored_events: list[StoredEvent], **kwargs: Any) -> list[int] | None:
        if recorder.datastore.enable_db_functions:  # one statement, no pipeline
            return insert_pipelined(stored_events, **kwargs)
        with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            recorder._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            # Takes the table lock, notifies, inserts ... RETURNING notification_id.
            recorder._insert_stored_events(curs, stored_events, **kwargs)
            return recorder._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    return insert_events


def _with_page_cache(create: Callable[[], Any], mib: int) -> Callable[[], Any]:
    """Wraps eventsourcing's SQLite connection factory to enlarge the page cache.

    Every event goes into the (originator_id, version) index, and ids are
    random UUIDs, so at a million objects nearly every insert lands on an index
    page that SQLite's default 2 MiB cache has dropped. bench/ingest.py at 1M
    objects with 128 MiB: IBM replay 50k -> 58k accesses/s. The default (64 MiB,
    ``sqlite_cache_mb``) keeps resident memory under 1 KB per tracked object."""
    def create_with_cache() -> Any:
        return _set_page_cache(create(), mib)
    return create_with_cache


def _set_page_cache(conn: Any, mib: int) -> Any:
    conn._sqlite_conn.execute(f"PRAGMA cache_size=-{mib * 1024}")
    return conn


class GovernanceStore(GovernanceLog):
    """``GovernanceLog`` on a real event store, with the recorder adjusted."""

    def construct_recorder(self) -> ApplicationRecorder:
        return adapt_recorder(super().construct_recorder(), self.env)


def governance_env(env: Mapping[str, str], sqlite_path: str | None) -> dict[str, str]:
    """The governance log's environment: on PostgreSQL the same database (its
    own table, named after the application); on SQLite a file of its own, as
    eventsourcing's SQLite recorder has one events table per file."""
    out = {k: v for k, v in env.items() if k != "AGGREGATE_CACHE_MAXSIZE"}
    if sqlite_path is not None and out.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        out["SQLITE_DBNAME"] = sqlite_path
    return out


def open_governance(env: Mapping[str, str], sqlite_path: str | None, attempts: int = 5) -> GovernanceStore:
    """Keys' digests and who did what: a SQLite file only its owner may read."""
    if sqlite_path is not None and env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        path = Path(sqlite_path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
    for attempt in retrying(PersistenceError, attempts=attempts, first_s=0.2, max_s=2.0):
        with attempt:
            return GovernanceStore(env=governance_env(env, sqlite_path))
    raise AssertionError("unreachable: the last failure is re-raised")
