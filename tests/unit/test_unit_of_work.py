"""A failed save leaves no cached aggregate ahead of the store, on every path
that changes objects: ingest, a command, a group of move steps, a decision
round. The next read sees what was recorded, and a retry records it."""

import pytest

from tiering.actors.deciding import decide_round
from tiering.actors.placement import placement_of
from tiering.actors.shard import ShardWorker
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier

DAY = 86_400.0


class SaveFails(Exception):
    pass


@pytest.fixture
def worker(tmp_path):
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return ShardWorker(0, Settings(data_dir=tmp_path), app=app)


def rec(ts, key, op="GET", size=None):
    return {"ts": ts, "tenant": "acme", "key": key, "op": op, "size": size}


def fail_next_save(monkeypatch, app) -> None:
    real = app.save

    def once(*objs, **kwargs):
        monkeypatch.setattr(app, "save", real)
        raise SaveFails("the store went away")

    monkeypatch.setattr(app, "save", once)


def assert_cache_matches_store(app, key):
    cached = app.current("acme", key)
    fresh = app.events.get(cached.id)
    versions = [e.originator_version for e in fresh]
    assert cached.version == versions[-1], "the cached aggregate is ahead of the store"


def test_a_failed_ingest_leaves_nothing_behind_and_its_retry_counts_once(worker, monkeypatch):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, "k", "PUT", 10)]), "b1")
    batch = parse_batch([rec(2 * DAY, "k"), rec(2 * DAY, "k")])
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        app.ingest(batch, "b2")
    assert_cache_matches_store(app, "k")
    assert app.current("acme", "k").accesses_total == 1
    app.ingest(batch, "b2")
    app.ingest(batch, "b2")  # the client's retry of an acknowledged batch
    assert app.current("acme", "k").accesses_total == 3


@pytest.mark.parametrize("step", ["request_move", "record_copied", "record_verified",
                                  "commit_move", "record_source_reclaimed", "abort_move"])
def test_a_failed_move_step_is_not_half_recorded(worker, monkeypatch, step):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, "k", "PUT", 10)]), "b1")
    steps = {"request_move": {"target": "warm", "reason": "idle"}, "record_copied": {},
             "record_verified": {"checksum": "c"}, "commit_move": {},
             "record_source_reclaimed": {}, "abort_move": {"reason": "test"}}
    order = ["request_move", "record_copied", "record_verified", "commit_move",
             "record_source_reclaimed"]
    for before in order[:order.index(step)] if step in order else order[:1]:
        worker.apply("acme", "k", before, {"move_id": "m", **steps[before]})
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        worker.apply("acme", "k", step, {"move_id": "m", **steps[step]})
    assert_cache_matches_store(app, "k")
    assert worker.apply("acme", "k", step, {"move_id": "m", **steps[step]})["changed"]
    assert [h.kind for h in app.history("acme", "k")].count("MoveRequested") == 1


def test_a_failed_group_of_steps_evicts_every_object_in_it(worker, monkeypatch):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, k, "PUT", 10) for k in ("a", "b")]), "b1")
    steps = placement_of(worker)
    items = [("apply", ("acme", k, "request_move", {"move_id": f"m-{k}", "target": Tier.COLD,
                                                    "reason": "idle"})) for k in ("a", "b")]
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        steps.batch(items)
    for k in ("a", "b"):
        assert_cache_matches_store(app, k)
        assert app.current("acme", k).move is None
    assert [r["changed"] for r in steps.batch(items)] == [True, True]


def test_a_failed_decision_round_is_decided_again_by_the_next(worker, monkeypatch):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, "idle", "PUT", 2 ** 22)]), "b1")
    app.ingest(parse_batch([rec(200 * DAY, "clock", "PUT", 1)]), "b2")
    spec = {"disposition": "dry", "model_version": None, "predictors": [], "policy_params": {},
            "importances": [], "promotions_only": False}
    keys, clocks = [("acme", "idle")], {"acme": 200 * DAY}
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        decide_round(worker, keys, clocks, spec)
    assert_cache_matches_store(app, "idle")
    assert app.current("acme", "idle").recommendation is None
    again = decide_round(worker, keys, clocks, spec)
    assert len(again["decisions"]) == 1 and again["unchanged"] == 0
    assert [h.kind for h in app.history("acme", "idle")][-1] == "TierRecommended"
