"""One clock: every event states the event time of what it records.

Accesses bring event time in; moves, answers and decisions are stamped with
their tenant's event time when recorded, never earlier than the log's newest,
so reading a log up to event time T reads a prefix of it.
"""

import json

import pytest
from eventsourcing.persistence import StoredEvent

from tiering.domain.application import ObjectLogApplication
from tiering.domain.model import StoredObject
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier

DAY = 86_400.0


def rec(ts, key, op="GET", size=None, tenant="acme"):
    return {"ts": ts, "tenant": tenant, "key": key, "op": op, "size": size}


@pytest.fixture
def app():
    return ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_stamp_never_goes_back_in_the_log(app):
    app.ingest(parse_batch([rec(100 * DAY, "k", "PUT", 10), rec(101 * DAY, "k")]), "b1")
    app.command("acme", "k", lambda o: o.request_move("m", Tier.WARM, "idle", 50 * DAY))
    app.command("acme", "k", lambda o: o.record_copied("m", None))
    app.command("acme", "k", lambda o: o.record_verified("m", "c", 103 * DAY))
    app.command("acme", "k", lambda o: o.commit_move("m", 102 * DAY))
    ats = [h.at for h in app.history("acme", "k")]
    assert ats == [100 * DAY, 101 * DAY, 101 * DAY, 101 * DAY, 103 * DAY, 103 * DAY]
    assert ats == sorted(ats)
    assert app.current("acme", "k").log_time == 103 * DAY


def test_each_tenant_has_its_own_clock(app):
    app.ingest(parse_batch([rec(10 * DAY, "k", "PUT", 10)]), "b1")
    app.ingest(parse_batch([rec(9000 * DAY, "trace", "PUT", 10, tenant="replay")]), "b2")
    assert app.tenant_now("acme") == 10 * DAY
    assert app.tenant_now("replay") == 9000 * DAY
    assert app.tenant_now("acme", 12 * DAY) == 12 * DAY  # a caller may know a later time
    assert app.tenant_now("nobody") is None
    # a move of acme's object is stamped on acme's clock, whatever the replay did
    app.command("acme", "k", lambda o: o.request_move("m", Tier.WARM, "idle",
                                                       app.tenant_now("acme")))
    assert app.history("acme", "k")[-1].at == 10 * DAY


def test_state_at_reads_the_prefix_up_to_an_event_time(app):
    app.ingest(parse_batch([rec(1 * DAY, "k", "PUT", 10)]), "b1")
    app.ingest(parse_batch([rec(2 * DAY, "k")]), "b2")
    for step in ("request", "copied", "verified", "commit", "reclaimed"):
        now = app.tenant_now("acme", 3 * DAY)
        app.command("acme", "k", {
            "request": lambda o: o.request_move("m", Tier.COLD, "idle", now),
            "copied": lambda o: o.record_copied("m", now),
            "verified": lambda o: o.record_verified("m", "c", now),
            "commit": lambda o: o.commit_move("m", now),
            "reclaimed": lambda o: o.record_source_reclaimed("m", now)}[step])
    app.ingest(parse_batch([rec(4 * DAY, "k")]), "b3")
    before = app.state_at("acme", "k", 2.5 * DAY)
    assert (before.tier, before.accesses_total, before.version) == (Tier.HOT, 2, 3)
    moved = app.state_at("acme", "k", 3 * DAY)
    assert (moved.tier, moved.accesses_total, moved.version, moved.move) == (Tier.COLD, 2, 8, None)
    assert app.state_at("acme", "k", 4 * DAY).accesses_total == 3


def version_1(app, event, at):
    stored = app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    state.pop("class_version", None)
    state["at"] = at
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                       json.dumps(state).encode())


def test_steps_stored_with_wall_time_are_upcast_to_no_event_time(app):
    """Version 1 stamped moves and answers with wall time, a second clock; the
    upcast drops it: the step reads as recorded after the event before it."""
    obj = StoredObject("acme", "k", 0, 10, None, "hot", 5 * DAY, "put")
    obj.request_move("m", Tier.WARM, "idle", 5 * DAY)
    obj.record_copied("m", 5 * DAY)
    events = obj.collect_events()
    wall = 1.8e9
    old = [version_1(app, e, wall) for e in events[1:]]
    upcast = [app.mapper.to_domain_event(s) for s in old]
    assert [e.at for e in upcast] == [None, None]
    again = upcast[0].mutate(events[0].mutate(None))
    again = upcast[1].mutate(again)
    assert again.move["step"] == "copied" and again.move["requested_at"] is None
    assert again.log_time == 5 * DAY


def test_a_snapshot_from_before_log_time_is_upcast():
    state = {"tenant": "acme", "key": "k", "registered_at": 1.0, "last_access_at": 7.0,
             "deleted_at": None, "recommendation": {"at": 9.0}}
    StoredObject.upcast_v1_v2(state)
    assert state["log_time"] == 9.0
    moving = {**state, "move": {"move_id": "m", "step": "copied", "requested_at": 1.8e9}}
    del moving["log_time"]
    StoredObject.upcast_v1_v2(moving)
    assert moving["log_time"] == 9.0 and moving["move"]["requested_at"] is None
