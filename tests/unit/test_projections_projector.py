"""Projector logic: events from an in-memory (POPO) log, read models in a
throwaway SQLite file (the projector's output is SQL)."""

from __future__ import annotations

import pytest

from tests.support.stored_policy import set_policy, stored_policy
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import HOUR_S
from tiering.domain.costs import CostModel
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.cursors import decode_cursor, encode_cursor, prefix_end
from tiering.projections.db import ReadModelDB
from tiering.projections.page import BUCKET_RETENTION_H, spread_hours
from tiering.projections.projector import ProjectionError, Projector
from tiering.projections.queries import ReadModels

H = 500_000 * HOUR_S  # an hour boundary


def rec(ts, key, op, size=None):
    return {"ts": ts, "tenant": "acme", "key": key, "op": op, "size": size}


@pytest.fixture
def events():
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.ingest(parse_batch([rec(H + i, f"k{i % 4}", "PUT" if i < 4 else "GET", 100 * (i % 4 + 1))
                            for i in range(20)]), "b1")
    app.command("acme", "k1", lambda o: o.request_move("mv", Tier.WARM, "idle", H + 100))
    app.command("acme", "k1", lambda o: o.record_copied("mv", H + 101))
    app.command("acme", "k1", lambda o: o.record_verified("mv", "c", H + 102))
    app.command("acme", "k1", lambda o: o.commit_move("mv", H + 103))
    app.ingest(parse_batch([rec(H + 2 * HOUR_S + 5, "k2", "DELETE"),
                            rec(H + 3 * HOUR_S, "k2", "PUT", 50),
                            rec(H + 3 * HOUR_S, "k1", "GET", 200)]), "b2")
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return [app.mapper.to_domain_event(n) for n in notifications]


def build(tmp_path, name, events, page_size):
    db = ReadModelDB("sqlite", {"path": str(tmp_path / f"{name}.sqlite")})
    schema.ensure(db)
    projector = Projector()
    for i in range(0, len(events), page_size):
        with db.transaction():
            projector.apply(db, projector.prepare(events[i:i + page_size]))
    return ReadModels(db)


def test_the_result_does_not_depend_on_page_boundaries(tmp_path, events):
    whole = build(tmp_path, "whole", events, len(events))
    single = build(tmp_path, "single", events, 1)
    assert whole.dump() == single.dump()
    assert build(tmp_path, "threes", events, 3).dump() == whole.dump()


def test_a_page_folds_objects_tiers_and_moves(tmp_path, events):
    rm = build(tmp_path, "m", events, 5)
    k1 = rm.get_object("acme", "k1")
    assert (k1["tier"], k1["move"], k1["ops"]["GET"], k1["size"]) == \
        ("warm", {"move_id": "mv", "target": "warm", "step": "committed"}, 5, 200)
    k2 = rm.get_object("acme", "k2")
    assert (k2["incarnation"], k2["size"], k2["accesses_total"]) == (1, 50, 1)
    m = rm.metrics()
    assert (m["tiers"]["warm"]["objects"], m["tiers"]["hot"]["objects"]) == (1, 3)
    assert m["tiers"]["hot"]["bytes"] == 100 + 50 + 400
    assert m["moves_committed"] == 1 and m["moves_in_flight"] == 1
    # The move left hot long before hot's (zero) minimum; warm bills its 30 days later.
    assert m["cost"]["early_delete_usd"] == 0
    assert rm.get_movement("mv")["status"] == "committed"
    assert rm.get_object("acme", "k1")["recent"]["1h"] == 1


def test_an_event_for_an_unknown_object_is_refused(tmp_path, events):
    db = ReadModelDB("sqlite", {"path": str(tmp_path / "x.sqlite")})
    schema.ensure(db)
    projector = Projector()
    later = [e for e in events if type(e).__name__ != "Registered"]
    with pytest.raises(ProjectionError):
        with db.transaction():
            projector.apply(db, projector.prepare(later[:1]))
    assert db.fetchall("SELECT * FROM rm_object_history") == []  # rolled back


def test_spread_hours_splits_a_window_evenly():
    assert spread_hours(H + 10, H + 20, 7) == [(H // HOUR_S, 7)]
    h = H // HOUR_S
    assert spread_hours(H, H + 2 * HOUR_S, 7) == [(h, 2), (h + 1, 2), (h + 2, 3)]
    assert spread_hours(H, H + 9 * HOUR_S, 2) == [(h + 8, 1), (h + 9, 1)]
    long = spread_hours(H, H + 1000 * HOUR_S, 100_000)
    assert len(long) == BUCKET_RETENTION_H and long[-1][0] == h + 1000


def test_cursors_and_prefix_bounds():
    assert decode_cursor(encode_cursor(["acme", "a/é"]), 2) == ["acme", "a/é"]
    for bad in ("%%%", encode_cursor(["only one"])):
        with pytest.raises(ValueError):
            decode_cursor(bad, 2)
    assert prefix_end("logs/") == "logs0"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") is None


def test_tenant_price_overrides_apply_to_the_figures_without_a_rebuild(tmp_path, events):
    rm = build(tmp_path, "priced", events, 7)
    before = rm.metrics()
    rm.policy = stored_policy("tenants:\n  acme:\n    hot: {storage_gb_month: 0.23, get_per_1k: 0.004}\n"
                              "  other:\n    warm: {storage_gb_month: 1.0}\n")
    after = rm.metrics()
    hot_before, hot_after = before["tiers"]["hot"], after["tiers"]["hot"]
    assert hot_after["monthly_storage_usd"] == pytest.approx(10 * hot_before["monthly_storage_usd"])
    assert after["tiers"]["warm"] == before["tiers"]["warm"]  # only acme's hot price changed
    assert after["cost"]["request_usd"] > before["cost"]["request_usd"]
    assert after["objects_total"] == before["objects_total"]
    # a stored policy this version cannot read keeps the defaults rather than failing the read
    set_policy(rm.policy, "tenants: [not, a, mapping]\n")
    assert rm.metrics()["tiers"]["hot"]["monthly_storage_usd"] == pytest.approx(
        hot_before["monthly_storage_usd"])


def as_version_1(app, event, wall: float):
    """``event`` as a version 1 log stored it: ``at`` in wall time, no class_version."""
    import json

    from eventsourcing.persistence import StoredEvent

    stored = app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    state.pop("class_version", None)
    state["at"] = wall
    return app.mapper.to_domain_event(StoredEvent(stored.originator_id, stored.originator_version,
                                                  stored.topic, json.dumps(state).encode()))


@pytest.mark.parametrize("deleted_after_days, owed_days", [(40, 0), (12, 18)])
@pytest.mark.parametrize("stored_as", ["stamped", "version 1"])
def test_a_replayed_trace_bills_early_deletion_in_its_own_event_time(
        tmp_path, deleted_after_days, owed_days, stored_as):
    """A replayed trace runs on its own clock (here 2008). A move is stamped
    with its tenant's event time, so the tier it entered is billed on the
    trace's clock. Logs written when moves carried wall time (here 2027) are
    upcast: the step reads as recorded at the tenant's time, and bills alike."""
    day, past, wall = 86_400.0, 1_200_000_000.0, H
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.ingest(parse_batch([rec(past, "k", "PUT", 2 ** 30)]), "b1")
    app.ingest(parse_batch([rec(past + 2 * day, "other", "PUT", 10)]), "b2")
    now = app.tenant_now("acme")
    assert now == past + 2 * day
    app.command("acme", "k", lambda o: o.request_move("mv", Tier.WARM, "idle", now))
    app.command("acme", "k", lambda o: o.record_copied("mv", now))
    app.command("acme", "k", lambda o: o.record_verified("mv", "c", now))
    app.command("acme", "k", lambda o: o.commit_move("mv", now))
    app.ingest(parse_batch([rec(past + (2 + deleted_after_days) * day, "k", "DELETE")]), "b3")
    events = [app.mapper.to_domain_event(n)
              for n in app.recorder.select_notifications(start=1, limit=100)]
    if stored_as == "version 1":
        events = [as_version_1(app, e, wall) if type(e).__name__.startswith("Move") else e
                  for e in events]
        assert [e.at for e in events if type(e).__name__.startswith("Move")] == [None] * 4
    rm = build(tmp_path, "replayed", events, 2)
    # the move entered warm at the trace's time (day 2), not at the wall clock
    assert rm.get_object("acme", "other")["registered_at"] == past + 2 * day
    (move,) = rm.list_movements()[0]
    assert move["requested_at"] == past + 2 * day  # and abandoned when the delete came
    assert [h["at"] for h in move["history"]] == [past + 2 * day] * 4 + [
        past + (2 + deleted_after_days) * day]
    expected = CostModel().early_deletion_usd("warm", 2 ** 30, deleted_after_days * day)
    assert expected == pytest.approx(0.0125 * owed_days / 30)
    assert rm.metrics()["cost"]["early_delete_usd"] == pytest.approx(expected)
