"""The object log on real SQLite and real PostgreSQL, including old schemas."""

from __future__ import annotations

import json

import pytest
from eventsourcing.persistence import StoredEvent

from tiering.adapters.eventstore import open_object_logs
from tiering.domain.ids import object_id
from tiering.domain.records import parse_batch

pytestmark = pytest.mark.integration


def test_an_event_stored_at_an_old_class_version_is_upcast_on_load(store_settings):
    app = open_object_logs(store_settings.eventstore_env())
    oid = object_id("legacy", "old/key")
    # What version 1 of Registered wrote: no "origin" and no class_version.
    v1_state = {"timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-01T00:00:00+00:00"},
                "originator_topic": "domain.model:StoredObject", "tenant": "legacy",
                "key": "old/key", "incarnation": 0, "size": 42, "etag": None, "tier": "warm",
                "at": 1735689600.0}
    app.recorder.insert_events([StoredEvent(oid, 1, "domain.model:StoredObject.Registered",
                                            json.dumps(v1_state).encode())])
    fresh = open_object_logs(store_settings.eventstore_env())
    obj = fresh.current("legacy", "old/key")
    assert obj.origin == "put"
    assert obj.size == 42 and obj.tier.value == "warm"
    # and the upcast object keeps working: new events append after the old one
    fresh.ingest(parse_batch([{"ts": 1735689700, "tenant": "legacy", "key": "old/key",
                               "op": "GET"}]), "b1")
    again = open_object_logs(store_settings.eventstore_env()).current("legacy", "old/key")
    assert again.version == 2 and again.accesses_total == 1


def test_an_acknowledged_batch_is_in_the_store_for_any_new_reader(store_settings):
    writer = open_object_logs(store_settings.eventstore_env())
    result = writer.ingest(parse_batch([{"ts": i, "key": f"k{i % 7}", "op": "HEAD", "size": 1}
                                        for i in range(1, 101)]), "b1")
    assert result.accepted == 100 and result.registered == 7
    reader = open_object_logs(store_settings.eventstore_env())
    assert sum(reader.current("default", f"k{i}").accesses_total for i in range(7)) == 100
    assert reader.recorder.max_notification_id() == result.events


def test_snapshots_keep_a_long_log_cheap_to_load_and_equal(store_settings):
    app = open_object_logs(store_settings.eventstore_env())
    for i in range(450):
        app.ingest(parse_batch([{"ts": i + 1, "key": "hot", "op": "GET", "size": 5}]), f"b{i}")
    fresh = open_object_logs(store_settings.eventstore_env())
    assert fresh.snapshots is not None
    snaps = list(fresh.snapshots.get(object_id("default", "hot")))
    assert snaps, "a 450-event log should have been snapshotted"
    obj = fresh.current("default", "hot")
    assert obj.accesses_total == 450 and obj.version == 451


def test_sqlite_connections_get_the_configured_page_cache(tmp_path):
    from tiering.config import Settings

    settings = Settings(data_dir=tmp_path, sqlite_cache_mb=32)
    first = open_object_logs(settings.eventstore_env())  # makes the tables
    joining = open_object_logs(settings.eventstore_env(), create_tables=False)
    try:
        for app in (first, joining):
            pool = app.recorder.datastore.pool
            conns = [pool.get_connection(is_writer=False), pool.get_connection(is_writer=False)]
            try:
                assert [c._sqlite_conn.execute("PRAGMA cache_size").fetchone()[0]
                        for c in conns] == [-32 * 1024] * 2
            finally:
                for c in conns:
                    pool.put_connection(c)
    finally:
        first.close()
        joining.close()
