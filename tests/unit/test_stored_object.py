"""The StoredObject's rules, told as stories."""

import pytest

from tiering.domain.application import ObjectLogApplication
from tiering.domain.ids import object_id
from tiering.domain.model import AlreadyInTier, IllegalMoveStep, MoveInFlight, ObjectDeleted, StoredObject, UnknownMove
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.domain.windows import AccessWindow


def new_object(**kw) -> StoredObject:
    args = dict(tenant="acme", key="logs/a", incarnation=0, size=1000, etag="e1",
                tier="hot", at=100.0, origin="put")
    args.update(kw)
    return StoredObject(**args)


def kinds(obj: StoredObject) -> list[str]:
    return [type(e).__name__ for e in obj.collect_events()]


def test_an_object_id_is_derived_from_tenant_and_key():
    obj = new_object()
    assert obj.id == object_id("acme", "logs/a")
    assert object_id("acme", "logs/a") != object_id("other", "logs/a")
    assert object_id("acme", "logs/a", 1) != object_id("acme", "logs/a", 0)


def test_accesses_in_a_batch_fold_into_one_event_and_a_retried_batch_counts_once():
    obj = new_object()
    window = AccessWindow(101.0, 105.0, {"GET": 3, "HEAD": 2}, bytes_read=3000)
    assert obj.record_accesses("batch-1", window) is True
    assert obj.record_accesses("batch-1", window) is False  # the retry
    assert obj.accesses_total == 5
    assert obj.last_access_at == 105.0
    assert kinds(obj) == ["Registered", "AccessesRecorded"]


def test_a_move_walks_every_step_and_lands_the_object_in_its_target_tier():
    obj = new_object()
    assert obj.request_move("m1", Tier.WARM, "idle 30 days", at=200.0)
    assert obj.record_copied("m1", 201.0)
    assert obj.record_verified("m1", "sha256:abc", 202.0)
    assert obj.tier is Tier.HOT  # nothing changes until the commit
    assert obj.commit_move("m1", 203.0)
    assert obj.tier is Tier.WARM
    assert obj.move["step"] == "committed"
    assert obj.record_source_reclaimed("m1", 204.0)
    assert obj.move is None and obj.moves_completed == 1
    assert kinds(obj)[1:] == ["MoveRequested", "MoveCopied", "MoveVerified",
                              "MoveCommitted", "MoveSourceReclaimed"]


def test_no_second_move_while_one_is_in_flight_but_a_duplicate_request_is_harmless():
    obj = new_object()
    obj.request_move("m1", Tier.COLD, "rule", 200.0)
    assert obj.request_move("m1", Tier.COLD, "rule", 200.0) is False
    with pytest.raises(MoveInFlight):
        obj.request_move("m2", Tier.WARM, "rule", 201.0)


def test_no_move_to_the_current_tier():
    obj = new_object(tier="warm")
    with pytest.raises(AlreadyInTier):
        obj.request_move("m1", Tier.WARM, "rule", 200.0)
    assert kinds(obj) == ["Registered"]


def test_steps_cannot_be_skipped_and_duplicates_are_no_ops():
    obj = new_object()
    obj.request_move("m1", Tier.WARM, "rule", 200.0)
    with pytest.raises(IllegalMoveStep):
        obj.commit_move("m1", 201.0)
    obj.record_copied("m1", 201.0)
    assert obj.record_copied("m1", 201.5) is False
    with pytest.raises(UnknownMove):
        obj.record_verified("other", "x", 202.0)


def test_a_committed_move_cannot_be_aborted():
    obj = new_object()
    obj.request_move("m1", Tier.WARM, "rule", 200.0)
    obj.record_copied("m1", 201.0)
    obj.record_verified("m1", "c", 202.0)
    obj.commit_move("m1", 203.0)
    with pytest.raises(IllegalMoveStep):
        obj.abort_move("m1", "too late", 204.0)


def test_an_aborted_move_keeps_the_source_tier_and_frees_the_object():
    obj = new_object()
    obj.request_move("m1", Tier.WARM, "rule", 200.0)
    obj.record_copied("m1", 201.0)
    assert obj.abort_move("m1", "source overwritten during the move", 202.0)
    assert obj.tier is Tier.HOT and obj.move is None
    assert obj.abort_move("m1", "again", 203.0) is False
    assert obj.request_move("m2", Tier.WARM, "retry", 204.0)


def test_nothing_happens_to_an_object_after_its_deletion():
    obj = new_object()
    obj.request_move("m1", Tier.WARM, "rule", 200.0)
    obj.delete(300.0)
    assert obj.is_deleted and obj.move is None
    for command in (lambda: obj.record_accesses("b", AccessWindow(301.0, 301.0, {"GET": 1})),
                    lambda: obj.overwrite(5, "e2", 301.0),
                    lambda: obj.delete(302.0),
                    lambda: obj.recommend(Tier.COLD, "rule", 1.0, ["idle"], 303.0),
                    lambda: obj.request_move("m2", Tier.COLD, "rule", 304.0)):
        with pytest.raises(ObjectDeleted):
            command()
    assert kinds(obj)[-1] == "Deleted"


def test_the_log_names_the_checksum_of_the_bytes_written_and_a_mismatch_found():
    obj = new_object(etag=None)
    assert obj.record_content("a" * 32, 150.0) is True
    assert obj.record_content("a" * 32, 151.0) is False  # a retried write: the same bytes
    obj.record_content_mismatch("hot", "b" * 32, None)
    assert obj.etag == "a" * 32 and obj.log_time == 150.0
    events = obj.collect_events()
    assert [type(e).__name__ for e in events] == ["Registered", "ContentWritten", "ContentMismatchFound"]
    assert (events[2].bucket, events[2].expected, events[2].found, events[2].at) == ("hot", "a" * 32, "b" * 32, 150.0)
    obj.delete(160.0)
    with pytest.raises(ObjectDeleted):
        obj.record_content("c" * 32, 170.0)


def test_a_recommendation_keeps_its_reasons():
    obj = new_object()
    obj.recommend(Tier.COLD, "rf-v3", 0.91, ["no GET in 40 days", "size 1 GB"], 500.0)
    assert obj.recommendation == {"target": "cold", "policy_id": "rf-v3", "score": 0.91,
                                  "reasons": ["no GET in 40 days", "size 1 GB"], "at": 500.0,
                                  "decision_id": None, "disposition": "advice"}


def test_a_pending_decision_is_answered_once():
    from tiering.domain.model import DecisionNotPending, UnknownDecision

    obj = new_object()
    obj.recommend(Tier.COLD, "ours@v1", 0.8, ["idle"], 500.0, decision_id="d1", disposition="pending")
    with pytest.raises(UnknownDecision):
        obj.resolve_recommendation("other", "approved", "op", 501.0)
    assert obj.resolve_recommendation("d1", "approved", "op", 501.0) is True
    assert obj.resolve_recommendation("d1", "approved", "op", 502.0) is False  # a retried call
    with pytest.raises(DecisionNotPending):
        obj.resolve_recommendation("d1", "rejected", "op", 503.0)
    kinds = [type(e).__name__ for e in obj.collect_events()]
    assert kinds.count("RecommendationResolved") == 1


def test_only_pending_decisions_can_be_answered():
    from tiering.domain.model import DecisionNotPending

    obj = new_object()
    obj.recommend(Tier.COLD, "ours@v1", 0.8, ["idle"], 500.0, decision_id="d2", disposition="publish")
    with pytest.raises(DecisionNotPending):
        obj.resolve_recommendation("d2", "rejected", "op", 501.0)
    with pytest.raises(ValueError):
        obj.recommend(Tier.COLD, "x", 1.0, [], 1.0, disposition="sometimes")


def test_a_recommendation_written_before_decision_ids_still_loads():
    """TierRecommended events stored before decision_id/disposition/source existed."""
    from eventsourcing.application import Application

    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    obj = new_object()
    obj.recommend(Tier.WARM, "age-rule", 1.0, ["idle"], 500.0)
    pending = obj.collect_events()
    old = pending[-1]
    for name in ("decision_id", "disposition", "source"):
        object.__delattr__(old, name) if hasattr(old, name) else None
    app.events.put(pending)
    again = app.repository.get(obj.id)
    assert again.recommendation["target"] == "warm"
    assert again.recommendation["disposition"] == "advice"


@pytest.fixture
def app():
    return ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def batch(*rows):
    return parse_batch([dict(zip(("ts", "key", "op", "size"), r)) for r in rows])


def test_a_batch_registers_unseen_objects_and_folds_each_objects_accesses(app):
    result = app.ingest(batch((1, "a", "PUT", 10), (2, "a", "GET", None), (3, "b", "HEAD", 7),
                              (4, "a", "GET", None)), "b1")
    assert (result.accepted, result.registered, result.events) == (4, 2, 4)
    a = app.current("default", "a")
    assert a.accesses_total == 3 and a.size == 10 and a.origin == "put"
    b = app.current("default", "b")
    assert b.origin == "observed" and b.size == 7


def test_a_put_after_delete_starts_a_new_incarnation_and_strays_are_ignored(app):
    result = app.ingest(batch((1, "k", "PUT", 10), (2, "k", "DELETE", None),
                              (3, "k", "GET", None), (4, "k", "PUT", 20)), "b1")
    assert result.ignored == 1
    k = app.current("default", "k")
    assert (k.incarnation, k.size, k.accesses_total) == (1, 20, 1)
    first = app.repository.get(object_id("default", "k", 0))
    assert first.is_deleted and first.accesses_total == 2


def test_the_same_batch_id_applied_twice_changes_nothing(app):
    rows = batch((1, "x", "PUT", 1), (2, "x", "GET", None))
    app.ingest(rows, "same")
    again = app.ingest(rows, "same")
    assert again.events == 0 and again.duplicate
    assert app.current("default", "x").accesses_total == 2


def test_an_overwrite_changes_the_size(app):
    app.ingest(batch((1, "x", "PUT", 1)), "b1")
    app.ingest(batch((2, "x", "PUT", 99), (3, "x", "PUT", 50)), "b2")
    x = app.current("default", "x")
    assert x.size == 50
    assert [h.kind for h in app.history("default", "x")][-1] == "Overwritten"


def test_state_at_replays_to_an_event_time(app):
    app.ingest(batch((10, "x", "PUT", 1)), "b1")
    app.ingest(batch((20, "x", "GET", None)), "b2")
    assert app.state_at("default", "x", 5) is None
    assert app.state_at("default", "x", 15).accesses_total == 1
    assert app.state_at("default", "x", 25).accesses_total == 2
