"""Read models on the real event stores (SQLite and PostgreSQL): objects,
windows, moves, exactly-once application and rebuilds."""

from __future__ import annotations

import threading

import pytest

from tests.support.projection_workload import T0, expected_ops, ingest, rec, run_move, workload
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.queries import ReadModels

pytestmark = pytest.mark.integration


def test_objects_match_what_was_ingested(store_settings, app, runner):
    batches = workload()
    for b, rows in enumerate(batches):
        ingest(app, rows, f"b{b}")
    r = runner()
    assert r.catch_up() == r.lag()[1]
    rm = ReadModels(r.db)
    bytes_total = 0
    for (tenant, key), ops in expected_ops(batches).items():
        got = rm.get_object(tenant, key)
        obj = app.current(tenant, key)
        assert {op: n for op, n in got["ops"].items() if n} == dict(ops)
        assert got["accesses_total"] == obj.accesses_total == sum(ops.values())
        assert (got["size"], got["tier"], got["last_access_at"]) == (obj.size, "hot",
                                                                    obj.last_access_at)
        assert got["version"] == obj.version
        history = rm.history(tenant, key)
        assert [h["kind"] for h in history] == [h.kind for h in app.history(tenant, key)]
        assert [h["version"] for h in history] == list(range(1, obj.version + 1))
        bytes_total += obj.size
    m = rm.metrics()
    assert m["objects_total"] == len(expected_ops(batches))
    assert m["tiers"]["hot"] == {**m["tiers"]["hot"], "objects": m["objects_total"],
                                 "bytes": bytes_total}
    assert m["requests"]["GET"] == sum(r["op"] == "GET" for rows in batches for r in rows)
    assert m["event_time"] == max(r["ts"] for rows in batches for r in rows)
    assert m["cost"]["request_usd"] > 0 and m["monthly_cost_usd"] > m["cost"]["request_usd"]
    assert rm.metrics("beta")["objects_total"] + rm.metrics("acme")["objects_total"] == \
        m["objects_total"]


def test_recent_windows_count_back_from_the_newest_event(app, runner):
    ingest(app, [rec(T0 - 3 * 86400, "w", "PUT", 10), rec(T0 - 3 * 86400 + 1, "w", "GET", 10),
                 rec(T0 - 3 * 86400 + 2, "w", "GET", 10)], "a")
    ingest(app, [rec(T0 - 5 * 3600 + i, "w", "GET", 10) for i in range(3)], "b")
    ingest(app, [rec(T0 - 600 + i, "w", "GET", 10) for i in range(4)]
           + [rec(T0, "other", "PUT", 5)], "c")
    r = runner()
    r.catch_up()
    rm = ReadModels(r.db)
    assert rm.get_object("acme", "w")["recent"] == {"1h": 4, "24h": 7, "7d": 10}
    page, _ = rm.list_objects(tenant="acme")
    assert [o["recent"]["7d"] for o in page] == [1, 10]


def test_moves_update_movements_tiers_and_counters(app, runner):
    ingest(app, [rec(T0 + i, f"m{i}", "PUT", 200_000 * (i + 1)) for i in range(5)], "put")
    r = runner()
    r.catch_up()  # part of the moves land in a later page than their objects
    run_move(app, "m0", "mv-0", "warm", ["copied", "verified", "committed", "reclaimed"], T0 + 100)
    run_move(app, "m1", "mv-1", "cold", ["copied", "failed"], T0 + 200)
    run_move(app, "m2", "mv-2", "warm", ["aborted"], T0 + 300)
    run_move(app, "m3", "mv-3", "cold", ["copied"], T0 + 400)
    app.command("acme", "m4", lambda o: o.recommend(Tier.COLD, "p1", 0.9, ["idle 40d"], T0 + 450))
    ingest(app, [rec(T0 + 500, "m3", "DELETE")], "del")
    r.catch_up()
    rm = ReadModels(r.db)

    statuses = {m["move_id"]: [h["status"] for h in m["history"]]
                for m in rm.list_movements(limit=10)[0]}
    assert statuses == {
        "mv-0": ["requested", "copied", "verified", "committed", "reclaimed"],
        "mv-1": ["requested", "copied", "failed"], "mv-2": ["requested", "aborted"],
        "mv-3": ["requested", "copied", "abandoned"]}
    # Given up at the delete's event time: one clock for the move and the object.
    abandoned = rm.get_movement("mv-3")
    assert abandoned["history"][-1]["at"] == abandoned["updated_at"] == T0 + 500
    failed = rm.get_movement("mv-1")
    assert (failed["status"], failed["error"], failed["source"], failed["target"]) == \
        ("failed", "copy timed out", "hot", "cold")
    assert rm.get_movement("mv-0")["history"][2] == {"status": "verified", "at": T0 + 102,
                                                     "detail": "sha256:abc"}
    assert [m["move_id"] for m in rm.list_movements(status="failed")[0]] == ["mv-1"]
    first, cursor = rm.list_movements(limit=3)
    rest, end = rm.list_movements(limit=3, cursor=cursor)
    assert [m["move_id"] for m in first + rest] == ["mv-3", "mv-2", "mv-1", "mv-0"] and end is None

    m0 = rm.get_object("acme", "m0")
    assert (m0["tier"], m0["move"], m0["moves_completed"]) == ("warm", None, 1)
    assert rm.get_object("acme", "m2")["move"] is None
    assert rm.get_object("acme", "m4")["recommendation"] == {
        "target": "cold", "policy_id": "p1", "score": 0.9, "reasons": ["idle 40d"], "at": T0 + 450}
    m = rm.metrics()
    assert m["tiers"]["warm"]["objects"] == 1 and m["tiers"]["warm"]["bytes"] == 200_000
    assert m["tiers"]["hot"]["objects"] == 3  # m3 was deleted
    assert m["tiers"]["hot"]["bytes"] == 200_000 * (2 + 3 + 5)
    assert {k: m[k] for k in ("moves_requested", "moves_committed", "moves_completed",
                              "moves_failed", "moves_aborted", "moves_abandoned",
                              "moves_in_flight")} == {
        "moves_requested": 4, "moves_committed": 1, "moves_completed": 1, "moves_failed": 1,
        "moves_aborted": 1, "moves_abandoned": 1, "moves_in_flight": 0}
    assert m["move_success_rate"] == 0.5
    assert m["cost"]["transition_usd"] == pytest.approx(0.01 / 1000)


def test_in_flight_move_shows_on_the_object_and_counters(app, runner):
    ingest(app, [rec(T0, "x", "PUT", 10)], "put")
    run_move(app, "x", "mv-x", "cold", ["copied", "verified"], T0 + 10)
    r = runner()
    r.catch_up()
    rm = ReadModels(r.db)
    assert rm.get_object("acme", "x")["move"] == {"move_id": "mv-x", "target": "cold",
                                                  "step": "verified"}
    assert rm.metrics()["moves_in_flight"] == 1 and rm.metrics()["move_success_rate"] is None


def test_each_event_is_applied_once_across_restarts(store_settings, app, runner):
    batches = workload()
    ingest(app, batches[0], "b0")
    first = runner()
    assert first.run_once() > 0 and first.run_once() == 0 and first.run_once() == 0
    ingest(app, batches[1], "b1")
    ingest(app, batches[1], "b1")  # a retried batch records nothing new
    ingest(app, batches[2], "b2")
    second = runner()  # a restart: a fresh runner on the same database
    position, newest = second.lag()
    assert 0 < position < newest
    second.catch_up()
    assert second.lag() == (newest, newest) and first.run_once() == 0
    rm = ReadModels(second.db)
    for (tenant, key), ops in expected_ops(batches).items():
        assert rm.get_object(tenant, key)["accesses_total"] == sum(ops.values())


def test_concurrent_runners_do_not_double_count(store_settings, app, runner):
    batches = workload()
    for b, rows in enumerate(batches):
        ingest(app, rows, f"b{b}")
    settings = store_settings.model_copy(update={"projection_page": 5})
    runners = [runner(settings) for _ in range(2)]
    threads = [threading.Thread(target=r.catch_up) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rm = ReadModels(runners[0].db)
    for (tenant, key), ops in expected_ops(batches).items():
        assert rm.get_object(tenant, key)["accesses_total"] == sum(ops.values())
    assert len(rm.history("acme", "k01")) == len(app.history("acme", "k01"))


def test_a_new_incarnation_replaces_the_row(app, runner):
    ingest(app, [rec(T0, "k", "PUT", 100), rec(T0 + 1, "k", "GET", 100),
                 rec(T0 + 2, "k", "DELETE")], "one")
    r = runner()
    r.catch_up()
    rm = ReadModels(r.db)
    assert rm.list_objects()[0] == []
    assert rm.list_objects(include_deleted=True)[0][0]["deleted_at"] == T0 + 2
    ingest(app, [rec(T0 + 10, "k", "PUT", 300)], "two")
    r.catch_up()
    row = rm.get_object("acme", "k")
    assert (row["incarnation"], row["size"], row["deleted_at"], row["accesses_total"]) == \
        (1, 300, None, 1)
    assert [h["kind"] for h in rm.history("acme", "k")] == ["Registered", "AccessesRecorded"]
    assert rm.history("acme", "k", incarnation=0)[-1]["kind"] == "Deleted"
    m = rm.metrics()
    assert (m["objects_total"], m["tiers"]["hot"]["bytes"]) == (1, 300)


def test_list_objects_pages_with_a_cursor_and_filters(app, runner):
    ingest(app, [rec(T0 + i, f"p/{i:03d}", "PUT", 10) for i in range(25)]
           + [rec(T0 + i, f"q/{i}", "PUT", 10) for i in range(3)]
           + [rec(T0, "p/000", "PUT", 10, tenant="beta")], "b")
    run_move(app, "p/007", "mv", "warm", ["copied", "verified", "committed"], T0 + 50)
    r = runner()
    r.catch_up()
    rm = ReadModels(r.db)
    seen, cursor = [], None
    while True:
        page, cursor = rm.list_objects(tenant="acme", prefix="p/", cursor=cursor, limit=10)
        seen += [o["key"] for o in page]
        if cursor is None:
            break
    assert seen == [f"p/{i:03d}" for i in range(25)]
    assert [(o["tenant"], o["key"]) for o in rm.list_objects(prefix="p/000")[0]] == \
        [("acme", "p/000"), ("beta", "p/000")]
    assert [o["key"] for o in rm.list_objects(tier="warm")[0]] == ["p/007"]
    assert len(rm.list_objects(limit=1000)[0]) == 29
    with pytest.raises(ValueError):
        rm.list_objects(cursor="not-a-cursor")


def test_rebuild_reproduces_the_incremental_tables(store_settings, app, runner):
    small = store_settings.model_copy(update={"projection_page": 7})
    r = runner(small)
    rm = ReadModels(r.db)
    for b, rows in enumerate(workload()):
        ingest(app, rows, f"b{b}")
        r.run_once()
    run_move(app, "k01", "mv-1", "warm", ["copied", "verified", "committed", "reclaimed"], T0 + 3000)
    run_move(app, "k02", "mv-2", "cold", ["failed"], T0 + 3100)
    ingest(app, [rec(T0 + 3200, "k03", "DELETE"), rec(T0 + 3300, "k03", "PUT", 7),
                 rec(T0 + 90_000, "k04", "GET", 1040)], "late")
    r.catch_up()
    rm.write_snapshot(123.0)
    incremental = rm.dump()
    assert incremental["rm_objects"] and incremental["rm_access_buckets"]
    fresh = runner()  # the default page size splits the log differently
    seen = []
    assert fresh.rebuild(on_progress=seen.append) == fresh.lag()[1]
    assert seen == [fresh.lag()[1]] and rm.position() == fresh.lag()[1]
    assert ReadModels(fresh.db).dump() == incremental


def test_read_models_built_by_another_projector_version_are_rebuilt(app, runner, caplog):
    ingest(app, [rec(T0, "v", "PUT", 10), rec(T0 + 1, "v", "GET", 10)], "a")
    r = runner()
    r.catch_up()
    before = ReadModels(r.db).get_object("acme", "v")
    # as a projector of another version left them: a different version row, a stale figure
    r.db.execute("UPDATE rm_meta SET value = 1 WHERE name = 'read_model_version'")
    r.db.execute("UPDATE rm_objects SET accesses_total = 999")
    again = runner()
    assert "rebuilding them from the event log" in caplog.text
    assert again.position == 0 and schema.built_version(again.db) == schema.READ_MODEL_VERSION
    again.catch_up()
    assert ReadModels(again.db).get_object("acme", "v") == before
    third = runner()  # the same version: nothing is rebuilt
    assert third.position == again.position
