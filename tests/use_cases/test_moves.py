"""Use cases of moves and bytes, on fakes of the shards, the store and the bus."""

import asyncio
import hashlib

import pytest

from tests.use_cases.fakes import FakeBytes, FakeIngest, FakeShards, Publisher, live_state
from tiering.adapters.objectstore import TierBuckets, object_name
from tiering.services import content_check
from tiering.services.errors import Conflict, ContentMismatch, Invalid, NotFound, Unavailable
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
    assert bucket == "b-hot" and run(collect(chunks)) == b"bytes"


async def collect(chunks) -> bytes:
    return b"".join([c async for c in chunks])


def test_content_that_matches_the_checksum_in_the_log_is_served():
    data = b"the bytes the log names"
    uc, shards, *_ = moves([live_state(etag=hashlib.md5(data).hexdigest())],
                           {"b-hot": {object_name("acme", "k"): data}})
    state, bucket, chunks = run(uc.content("acme", "k"))
    assert run(collect(chunks)) == data and shards.mismatches == []


def test_content_that_does_not_match_is_refused_before_a_byte_is_sent_and_reported():
    expected = hashlib.md5(b"what was written").hexdigest()
    uc, shards, *_ = moves([live_state(etag=expected)], {"b-hot": {object_name("acme", "k"): b"changed!"}})
    with pytest.raises(ContentMismatch, match="checksum") as e:
        run(uc.content("acme", "k"))
    assert "changed!" not in e.value.message
    assert shards.mismatches == [("acme", "k", "b-hot", expected, hashlib.md5(b"changed!").hexdigest())]


def test_a_large_object_is_checked_as_it_streams_and_cut_short_on_a_mismatch(monkeypatch):
    monkeypatch.setattr(content_check, "VERIFY_BEFORE_SENDING", 8)
    written, stored = b"a" * 40, b"a" * 39 + b"b"
    uc, shards, *_ = moves([live_state(etag=hashlib.md5(written).hexdigest())],
                           {"b-hot": {object_name("acme", "k"): stored}})
    uc.store.chunk = 4
    _, _, chunks = run(uc.content("acme", "k"))  # more than the limit: headers go out first

    async def read_all() -> bytes:
        got = b""
        with pytest.raises(ContentMismatch):
            async for c in chunks:
                got += c
        return got
    assert len(run(read_all())) < len(stored) and len(shards.mismatches) == 1


def test_content_with_no_checksum_in_the_log_is_served_unchecked():
    uc, shards, *_ = moves([live_state(etag="0123abcd-2")], {"b-hot": {object_name("acme", "k"): b"multipart"}})
    _, _, chunks = run(uc.content("acme", "k"))
    assert run(collect(chunks)) == b"multipart" and shards.mismatches == []


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
