"""A failed save leaves no cached aggregate ahead of the store, on every path
that changes objects: ingest, a command, a group of move steps, a decision
round. The next read sees what was recorded, and a retry records it."""

import pytest

from tiering.adapters.bus import Decision
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.shards.decision_round import RoundSpec, choose_decisions, group_objects
from tiering.shards.steps import (
    AnswerDecision,
    CommitMove,
    RecordCopied,
    RecordVerified,
    RequestMove,
)
from tiering.shards.worker import ShardWorker

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


def request(worker, key: str, target: str) -> Decision:
    d = Decision.for_object(worker.get_object("acme", key), target, "idle", "test", 1 * DAY)
    assert worker.run(RequestMove(d))["outcome"] == "requested"
    return d


STEPS = {
    "copied": lambda d: RecordCopied("acme", d.key, d.move_id),
    "verified": lambda d: RecordVerified("acme", d.key, d.move_id, "c"),
    "committed": lambda d: CommitMove("acme", d.key, d.move_id),
}


@pytest.mark.parametrize("step", ["requested", "copied", "verified", "committed", "answered"])
def test_a_failed_move_step_is_not_half_recorded(worker, monkeypatch, step):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, "k", "PUT", 10)]), "b1")
    if step == "answered":
        app.command("acme", "k", lambda o: o.recommend(Tier.WARM, "test", 1.0, ["idle"], 1 * DAY,
                                                       decision_id="d", disposition="pending"))
        run = AnswerDecision("acme", "k", "d", "rejected", "ops")
    elif step == "requested":
        d = Decision.for_object(worker.get_object("acme", "k"), "warm", "idle", "test", 1 * DAY)
        run = RequestMove(d)
    else:
        d = request(worker, "k", "warm")
        order = list(STEPS)
        for before in order[:order.index(step)]:
            worker.run(STEPS[before](d))
        run = STEPS[step](d)
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        worker.run(run)
    assert_cache_matches_store(app, "k")
    answer = worker.run(run)
    assert answer.get("changed") or answer.get("outcome") == "requested"
    assert [h.kind for h in app.history("acme", "k")].count("MoveRequested") == (step != "answered")


def test_a_failed_group_of_steps_evicts_every_object_in_it(worker, monkeypatch):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, k, "PUT", 10) for k in ("a", "b")]), "b1")
    steps = [RequestMove(Decision.for_object(worker.get_object("acme", k), "cold", "idle", "test",
                                             1 * DAY)) for k in ("a", "b")]
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        worker.run_together(steps)
    for k in ("a", "b"):
        assert_cache_matches_store(app, k)
        assert app.current("acme", k).move is None
    assert [r["outcome"] for r in worker.run_together(steps)] == ["requested", "requested"]


def decision_round(worker, keys, clocks):
    """The three steps of a round (``shards.decision_round``), in-process, in dry mode."""
    spec = RoundSpec("dry")
    groups = group_objects(keys, clocks, None)
    found = choose_decisions(groups, worker.observe(groups, False), spec, worker.settings)
    return worker.record_decisions(found["chosen"], spec.policy_id, spec.disposition)


def test_a_failed_decision_round_is_decided_again_by_the_next(worker, monkeypatch):
    app = worker.app
    app.ingest(parse_batch([rec(1 * DAY, "idle", "PUT", 2 ** 22)]), "b1")
    app.ingest(parse_batch([rec(200 * DAY, "clock", "PUT", 1)]), "b2")
    keys, clocks = [("acme", "idle")], {"acme": 200 * DAY}
    fail_next_save(monkeypatch, app)
    with pytest.raises(SaveFails):
        decision_round(worker, keys, clocks)
    assert_cache_matches_store(app, "idle")
    assert app.current("acme", "idle").recommendation is None
    again = decision_round(worker, keys, clocks)
    assert len(again["decisions"]) == 1 and again["unchanged"] == 0
    assert [h.kind for h in app.history("acme", "idle")][-1] == "TierRecommended"
    assert decision_round(worker, keys, clocks) == {"decisions": [], "unchanged": 0, "changed": 0, "held": 0}
