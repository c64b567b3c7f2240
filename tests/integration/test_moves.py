"""Moves end to end on real SeaweedFS, real Ray and the in-process bus (or Kafka)."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.support.api import authorized
from tests.support.move_stack import MoveStack, api_client, md5
from tiering.adapters.objectstore import object_name

pytestmark = pytest.mark.integration


def test_ingest_materialises_bytes_and_a_move_walks_every_step(stack):
    sizes = {"zero": 0, "small": 4096, "mid": 1_500_000, "big": 20 * 2**20}
    stack.put(sizes)
    cap = stack.settings.materialize_cap_bytes
    for key, size in sizes.items():
        where = stack.where(key)
        assert list(where) == [stack.buckets.hot]
        assert len(stack.content(key)) == min(size, cap)
        assert stack.state(key)["size"] == size  # the logical size stays in the log
    before = {k: md5(stack.content(k)) for k in sizes}
    for key in sizes:
        stack.decide(key, "warm")
    stack.wait_settled(sizes, moved=dict.fromkeys(sizes, "warm"))
    stack.assert_consistent(before)
    kinds = [e["kind"] for e in stack.history("mid")]
    assert kinds[-5:] == ["MoveRequested", "MoveCopied", "MoveVerified", "MoveCommitted",
                          "MoveSourceReclaimed"]


def test_post_move_answers_202_409_404_and_422_naming_the_field(stack):
    client = api_client(stack)
    stack.put({"a": 10_000, "b": 10})
    bad = client.post("/objects/a/move", params={"tenant": "acme"}, json={"target": "lukewarm"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "target"
    missing = client.post("/objects/a/move", params={"tenant": "acme"}, json={})
    assert missing.status_code == 422 and "target" in missing.json()["errors"][0]["field"]
    assert client.post("/objects/nope/move", params={"tenant": "acme"},
                       json={"target": "cold"}).status_code == 404
    same = client.post("/objects/a/move", params={"tenant": "acme"}, json={"target": "hot"})
    assert same.status_code == 409 and "already in hot" in same.json()["detail"]
    ok = client.post("/objects/a/move", params={"tenant": "acme"},
                     json={"target": "COLD", "reason": "archive"})
    assert ok.status_code == 202, ok.text
    body = ok.json()
    assert body["target"] == "cold" and body["target_bucket"] == stack.buckets.cold
    again = client.post("/objects/a/move", params={"tenant": "acme"}, json={"target": "warm"})
    assert again.status_code == 409  # in flight, or already moved by now
    stack.wait_settled(["a"], moved={"a": "cold"})
    requested = [e for e in stack.history("a") if e["kind"] == "MoveRequested"]
    assert [(e["data"]["move_id"], e["data"]["reason"]) for e in requested] == [
        (body["move_id"], "archive")]
    where = client.get("/objects/a/location", params={"tenant": "acme"}).json()
    assert (where["tier"], where["bucket"]) == ("cold", stack.buckets.cold)


def test_duplicate_decisions_make_one_move(stack):
    from tiering.adapters.bus import Decision

    stack.put({"dup": 50_000})
    first = stack.decide("dup", "warm")
    again = Decision.for_object(stack.state("dup"), "warm", "other words", "test", 0.0)
    assert again.move_id == first.move_id  # same object version, same target: same move
    for d in (first, again, first):
        stack.runtime.call(stack.runtime.bus.publish(d))
    stack.runtime.call(stack.runtime.bus.drain(60))
    stack.wait_settled(["dup"], moved={"dup": "warm"})
    kinds = [e["kind"] for e in stack.history("dup")]
    assert kinds.count("MoveRequested") == 1 and kinds.count("MoveSourceReclaimed") == 1
    outcomes = sorted(o["outcome"] for o in stack.runtime.bus.statuses if o["key"] == "dup")
    assert outcomes == ["completed", "skipped", "skipped", "skipped"]


def test_content_is_served_wherever_the_object_lives_even_mid_move(ray_cluster, tmp_path, seaweed):
    paused = {s: tmp_path / f"paused-{s}" for s in ("copied", "committed")}
    stack = MoveStack(tmp_path, seaweed, movers=1, failpoints=[
        {"step": s, "nth": 1, "sleep": 4, "marker": str(p)} for s, p in paused.items()])
    try:
        client = api_client(stack)
        stack.put({"pic": 300_000})
        original = stack.content("pic")
        assert client.post("/objects/pic/move", params={"tenant": "acme"},
                           json={"target": "warm"}).status_code == 202
        seen = []
        for step, marker in paused.items():
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, step
                time.sleep(0.1)
            r = client.get("/objects/pic/content", params={"tenant": "acme"})
            assert r.status_code == 200 and r.content == original
            seen.append((r.headers["x-tier"], r.headers["x-bucket"]))
        # Before the commit the log says hot; after it, warm, while both copies exist.
        assert seen == [("hot", stack.buckets.hot), ("warm", stack.buckets.warm)]
        stack.wait_settled(["pic"])
        assert client.get("/objects/pic/content", params={"tenant": "acme"}).content == original
        assert client.get("/objects/nope/content", params={"tenant": "acme"}).status_code == 404
    finally:
        stack.close()


def test_content_is_served_only_if_it_matches_the_checksum_in_the_log(stack):
    client = api_client(stack)
    stack.put({"doc": 50_000})
    state = stack.state("doc")
    assert state["etag"] == stack.where("doc")[stack.buckets.hot]  # the log names the bytes written
    assert "ContentWritten" in [e["kind"] for e in stack.history("doc")]
    ok = client.get("/objects/doc/content", params={"tenant": "acme"})
    assert ok.status_code == 200 and ok.headers["x-content-md5"] == md5(ok.content) == state["etag"]
    # Bytes changed behind the product's back, straight into the bucket.
    stack.store.put(stack.buckets.hot, object_name("acme", "doc"), b"x" * 50_000)
    bad = client.get("/objects/doc/content", params={"tenant": "acme"})
    assert bad.status_code == 502 and "checksum" in bad.json()["detail"] and b"xxx" not in bad.content
    [found] = [e for e in stack.history("doc") if e["kind"] == "ContentMismatchFound"]
    assert found["data"]["expected"] == state["etag"] and found["data"]["found"] == md5(b"x" * 50_000)
    assert found["data"]["bucket"] == stack.buckets.hot


def test_materializing_ingest_writes_bytes_and_rejects_keys_too_long_for_the_store(stack):
    client = api_client(stack)
    records = [{"ts": 1, "tenant": "acme", "key": "m/1", "op": "PUT", "size": 70_000},
               {"ts": 2, "tenant": "acme", "key": "m/2", "op": "GET", "size": 1234},
               {"ts": 3, "tenant": "acme", "key": "m/1", "op": "GET"}]
    r = client.post("/accesses/materialize", json=records)
    assert r.status_code == 200 and r.json()["registered"] == 2, r.text
    assert len(stack.content("m/1")) == 70_000
    assert len(stack.content("m/2")) == 1234  # first seen by a GET: it existed already
    long_key = "é" * 500  # 1000 bytes of UTF-8 is a valid key, but 6000 bytes once encoded
    r = client.post("/accesses/materialize",
                    json=[{"ts": 4, "tenant": "acme", "key": long_key, "op": "PUT", "size": 1}])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "key"
    assert stack.state(long_key) is None  # nothing recorded
    deleted = client.post("/accesses/materialize",
                          json=[{"ts": 5, "tenant": "acme", "key": "m/2", "op": "DELETE"}])
    assert deleted.status_code == 200 and stack.where("m/2") == {}


def test_plain_ingest_writes_bytes_when_the_stack_has_an_object_store(stack):
    client = api_client(stack)
    r = client.post("/accesses", json=[{"ts": 1, "tenant": "acme", "key": "p/1", "op": "PUT",
                                        "size": 40_000}])
    assert r.status_code == 200 and r.json()["registered"] == 1, r.text
    assert len(stack.content("p/1")) == 40_000 and stack.where("p/1").keys() == {stack.buckets.hot}
    # an overwrite writes the new bytes in place
    client.post("/accesses", json=[{"ts": 2, "tenant": "acme", "key": "p/1", "op": "PUT", "size": 10}])
    assert len(stack.content("p/1")) == 10
    # opting out records the access and writes nothing
    r = client.post("/accesses?materialize=false",
                    json=[{"ts": 3, "tenant": "acme", "key": "p/2", "op": "PUT", "size": 5}])
    assert r.status_code == 200 and stack.state("p/2")["size"] == 5 and stack.where("p/2") == {}
    bad = client.post("/accesses?materialize=maybe", json=[])
    assert bad.status_code == 422


def test_import_registers_objects_already_in_a_bucket(stack):
    client = api_client(stack)
    outside = f"import-{uuid.uuid4().hex[:8]}"
    stack.store.ensure_buckets([outside])
    payloads = {"photos/2024/a.jpg": os.urandom(5000), "b.txt": b"hello", "empty": b""}
    for name, data in payloads.items():
        stack.store.put(outside, name, data)
    imported, after = 0, None
    while True:
        page = client.post("/imports", json={"bucket": outside, "tenant": "acme", "limit": 2,
                                             "start_after": after}).json()
        imported += page["imported"]
        after = page["next"]
        if after is None:
            break
    assert imported == 3
    for name in payloads:
        assert stack.state(name)["size"] == len(payloads[name])
        got = client.get(f"/objects/{name}/content", params={"tenant": "acme"})
        assert got.content == payloads[name]
    bad = client.post("/imports", json={"bucket": "no-such-bucket-here"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "bucket"


def test_without_a_movement_runtime_the_routes_say_503(sqlite_settings):
    from fastapi.testclient import TestClient

    from tiering.web.app import create_app
    from tiering.web.deps import Services

    client = authorized(TestClient(create_app(Services(settings=sqlite_settings))))
    assert client.get("/objects/x/content").status_code == 503
    assert client.post("/objects/x/move", json={"target": "cold"}).status_code == 503


def test_with_no_s3_endpoint_an_embedded_seaweedfs_is_started_joined_and_stopped(tmp_path):
    import psutil

    from tiering.app.moves_runtime import MovesRuntime
    from tiering.config import Settings

    settings = Settings(data_dir=tmp_path / "var")
    first = MovesRuntime.prepare(settings)
    try:
        endpoint = first.settings.s3_endpoint
        assert first.seaweed is not None and endpoint.startswith("127.0.0.1:")
        names = {b.name for b in first.store.client.list_buckets()}
        assert names == {"hot", "warm", "cold"}
        second = MovesRuntime.prepare(settings)  # another launch on the same data dir
        assert second.seaweed is None and second.settings.s3_endpoint == endpoint
        pid = first.seaweed.pid
    finally:
        first.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
