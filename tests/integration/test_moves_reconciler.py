"""The reconciler takes the log as the truth: moves left at any step are
finished or rolled back, and copies the log does not name are removed."""

from __future__ import annotations

import time

import pytest
import ray

from tests.support.move_stack import MoveStack
from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import object_name
from tiering.domain.ids import shard_of
from tiering.domain.records import AccessRecord, Op
from tiering.shards.routing import columns_of
from tiering.shards.steps import CommitMove, RecordCopied, RecordVerified, RequestMove

pytestmark = pytest.mark.integration


def test_interrupted_moves_are_finished_or_rolled_back_and_orphans_removed(
        ray_cluster, tmp_path, seaweed):
    stack = MoveStack(tmp_path, seaweed)
    store, hot, warm, cold = stack.store, stack.buckets.hot, stack.buckets.warm, stack.buckets.cold
    try:
        keys = ["requested", "copied-unrecorded", "verified", "committed", "orphan", "deleted",
                "changed"]
        stack.put(dict.fromkeys(keys, 100_000))
        before = {k: stack.where(k)[hot] for k in keys}

        def shard(key):
            return stack.shards[shard_of("acme", key, len(stack.shards))]

        def request(key, target):
            d = Decision.for_object(stack.state(key), target, "left behind", "test", time.time())
            assert ray.get(shard(key).run.remote(RequestMove(d, time.time())))[
                "outcome"] == "requested"
            return d

        def step(key, d, kind, *extra):
            ray.get(shard(key).run.remote(kind("acme", key, d.move_id, *extra, time.time())))

        # A crash left each of these moves at a different step; no decision survives.
        request("requested", "warm")
        request("copied-unrecorded", "cold")
        store.copy(hot, object_name("acme", "copied-unrecorded"), cold)
        d = request("verified", "warm")
        store.copy(hot, object_name("acme", "verified"), warm)
        step("verified", d, RecordCopied)
        step("verified", d, RecordVerified, "etag:" + before["verified"])
        d = request("committed", "cold")
        store.copy(hot, object_name("acme", "committed"), cold)
        step("committed", d, RecordCopied)
        step("committed", d, RecordVerified, "x")
        step("committed", d, CommitMove)
        d = request("changed", "warm")
        store.copy(hot, object_name("acme", "changed"), warm)
        step("changed", d, RecordCopied)
        newer = store.put(hot, object_name("acme", "changed"), b"written behind our back")
        # An aborted move's target copy, and bytes of an object the log deleted.
        store.copy(hot, object_name("acme", "orphan"), warm)
        ray.get(shard("deleted").ingest.remote(
            columns_of([AccessRecord(2_000.0, "acme", "deleted", Op.DELETE, None)]), "log-only-delete"))
        # Not ours to touch: a name never registered, and a name we do not make.
        stranger = store.put(hot, object_name("acme", "stranger"), b"?")
        store.put(hot, "some/other/app/file", b"!")

        report = stack.runtime.reconcile()
        outcomes = report["moves"]["outcomes"]
        assert sorted(outcomes.values()) == ["aborted", "completed", "completed", "completed",
                                             "completed"]
        assert report["copies"]["removed"] >= 2 and report["copies"]["foreign"] == 1

        targets = {"requested": warm, "copied-unrecorded": cold, "verified": warm,
                   "committed": cold, "orphan": hot}
        for key, bucket in targets.items():
            assert stack.where(key) == {bucket: before[key]}, key
        assert stack.where("deleted") == {}
        assert stack.where("changed") == {hot: newer.etag}
        aborted = [e for e in stack.history("changed") if e["kind"] == "MoveAborted"]
        assert "concurrent overwrite" in aborted[0]["data"]["reason"]
        assert store.stat(hot, object_name("acme", "stranger")).etag == stranger.etag
        assert store.stat(hot, "some/other/app/file") is not None
        stack.assert_consistent({k: before[k] for k in targets})

        again = stack.runtime.reconcile()  # nothing left to do
        assert again["moves"]["resumed"] == 0 and again["copies"]["removed"] == 0
    finally:
        stack.close()


def test_the_periodic_reconciler_drives_a_move_whose_decision_was_lost(ray_cluster, tmp_path,
                                                                        seaweed):
    stack = MoveStack(tmp_path, seaweed, periodic=True, reconcile_interval_s=1.0)
    try:
        stack.put({"lost": 64_000})
        etag = stack.where("lost")[stack.buckets.hot]
        d = Decision.for_object(stack.state("lost"), "cold", "published nowhere", "test", 0.0)
        shard = stack.shards[shard_of("acme", "lost", len(stack.shards))]
        assert ray.get(shard.run.remote(RequestMove(d, time.time())))["outcome"] == "requested"
        stack.wait_settled(["lost"], timeout=30, moved={"lost": "cold"})
        assert stack.where("lost") == {stack.buckets.cold: etag}
    finally:
        stack.close()
