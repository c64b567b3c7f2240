"""Use cases of moves and bytes, on fakes of the shards, the store and the bus."""

import asyncio

import pytest

from tests.use_cases.fakes import FakeBytes, FakeIngest, FakeShards, Publisher, live_state
from tiering.adapters.objectstore import TierBuckets, object_name
from tiering.services.errors import Conflict, Invalid, NotFound, Unavailable
from tiering.services.moves import Moves

BUCKETS = TierBuckets("b-hot", "b-warm", "b-cold")


def moves(objects=None, blobs=None, fails=False):
    shards = FakeShards({(s["tenant"], s["key"]): s for s in objects or []})
    publish = Publisher(fails=fails)
    ingest = FakeIngest()
    return Moves(shards, FakeBytes(blobs or {}), BUCKETS, publish, ingest), shards, publish, ingest


def run(coro):
    return asyncio.run(coro)


def test_an_operator_move_is_recorded_then_published():
    uc, shards, publish, _ = moves([live_state()])
    got = run(uc.request("acme", "k", "COLD", "archive it"))
    assert got["status"] == "requested" and got["target"] == "cold" and got["target_bucket"] == "b-cold"
    assert [d.move_id for d in shards.requested] == [d.move_id for d in publish.published] == [got["move_id"]]
    d = publish.published[0]
    assert (d.source, d.reason, d.policy, d.decided_at) == ("hot", "archive it", "operator", 100.0)


@pytest.mark.parametrize("objects,target,error,field", [
    ([live_state()], "lukewarm", Invalid, "target"),
    ([], "cold", NotFound, None),
    ([live_state(deleted_at=5.0)], "cold", NotFound, None),
    ([live_state(move={"move_id": "m", "target": "warm", "step": "copied"})], "cold", Conflict, None),
    ([live_state()], "hot", Conflict, None),
])
def test_a_move_that_cannot_be_taken_is_refused_and_nothing_is_published(objects, target, error, field):
    uc, shards, publish, _ = moves(objects)
    with pytest.raises(error) as e:
        run(uc.request("acme", "k", target, None))
    assert shards.requested == [] and publish.published == []
    if field:
        assert e.value.errors[0]["field"] == field


def test_a_second_request_for_the_same_object_is_a_conflict():
    uc, shards, publish, _ = moves([live_state()])
    run(uc.request("acme", "k", "cold", None))
    with pytest.raises(Conflict, match="in flight"):
        run(uc.request("acme", "k", "warm", None))
    assert len(publish.published) == 1


def test_a_bus_that_does_not_take_the_move_leaves_it_recorded_for_the_reconciler():
    uc, shards, publish, _ = moves([live_state()], fails=True)
    with pytest.raises(Unavailable, match="reconciler") as e:
        run(uc.request("acme", "k", "cold", None))
    assert len(shards.requested) == 1 and "Traceback" not in e.value.message


def test_content_comes_from_the_tier_the_log_names_or_mid_move_from_the_other_side():
    name = object_name("acme", "k")
    moving = live_state(move={"move_id": "m", "source": "hot", "target": "cold", "step": "committed"},
                        tier="cold")
    uc, *_ = moves([moving], {"b-hot": {name: b"bytes"}, "b-cold": {}})
    state, bucket, chunks = run(uc.content("acme", "k"))
    assert bucket == "b-hot" and b"".join(chunks) == b"bytes"


def test_no_content_for_unknown_deleted_or_absent_objects():
    uc, *_ = moves([live_state(key="gone", deleted_at=1.0), live_state(key="empty")], {"b-hot": {}})
    for key in ("nope", "gone", "empty"):
        with pytest.raises(NotFound):
            run(uc.content("acme", key))


def test_an_import_registers_a_page_and_names_where_to_go_on():
    blobs = {"theirs": {"a.log": b"1", "b.log": b"22", "c.log": b"333"}}
    uc, _, _, ingest = moves(blobs=blobs)
    got = run(uc.import_page("theirs", "acme", "", None, 2))
    assert (got["imported"], got["next"]) == (2, "b.log")
    assert [(r.tenant, r.key, r.size) for r in ingest.batches[0]] == [("acme", "a.log", 1), ("acme", "b.log", 2)]
    rest = run(uc.import_page("theirs", "acme", "", got["next"], 2))
    assert (rest["imported"], rest["next"]) == (1, None)


def test_an_import_from_a_bucket_the_store_refuses_names_the_bucket():
    uc, _, _, ingest = moves(blobs={})
    with pytest.raises(Invalid) as e:
        run(uc.import_page("nobody", "acme", "", None, 10))
    assert e.value.errors[0]["field"] == "bucket" and ingest.batches == []
