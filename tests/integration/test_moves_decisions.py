"""Where decisions come from (the age rule) and the CLI paths that put bytes
in the store (replay --materialize, import-bucket), on real SeaweedFS and Ray."""

from __future__ import annotations

import uuid

import pytest

from tests.support.move_stack import api_client
from tiering.adapters.objectstore import object_name
from tiering.services.age_rule import AgeRule, age_rule_decisions

pytestmark = pytest.mark.integration
DAY = 86400.0


class LiveRows:
    """Stands in for the read model's ``list_objects`` with the same row shape,
    read from the shards (the projections are another issue's)."""

    def __init__(self, stack, keys):
        self.stack, self.keys = stack, keys

    def list_objects(self, tier=None, cursor=None, limit=1000):
        rows = [self.stack.state(k) for k in self.keys]
        return [r for r in rows if r["tier"] == tier and r["deleted_at"] is None], None


def test_the_age_rule_moves_idle_objects_that_have_bytes(stack):
    t0 = 1_000.0
    stack.put({"ancient": 10_000, "ghost-never-materialised": 0}, ts=t0)
    stack.put({"old": 20_000}, ts=t0 + 60 * DAY)
    stack.put({"fresh": 30_000}, ts=t0 + 100 * DAY)
    ghost = "ghost-never-materialised"
    stack.store.remove(stack.buckets.hot, object_name("acme", ghost))  # as if replayed log-only
    keys = ["ancient", "old", "fresh", ghost]
    rule = AgeRule(warm_after_s=30 * DAY, cold_after_s=90 * DAY)
    decisions, absent = age_rule_decisions(rule, LiveRows(stack, keys), stack.store,
                                           stack.buckets, limit=10)
    assert {d.key: d.target for d in decisions} == {"ancient": "cold", "old": "warm"}
    assert absent == 1
    for d in decisions:
        stack.runtime.call(stack.runtime.bus.publish(d))
    stack.wait_settled(keys, moved={"ancient": "cold", "old": "warm", "fresh": "hot", ghost: "hot"})
    reason = [e for e in stack.history("old") if e["kind"] == "MoveRequested"][0]["data"]["reason"]
    assert reason.startswith("idle 40.0 days")
    again, _ = age_rule_decisions(rule, LiveRows(stack, keys), stack.store, stack.buckets, 10)
    assert again == []  # "old" is warm and 40 days idle; "ancient" is cold


def cli_client(stack):
    """The CLI's API client, talking to the app in-process."""
    from tiering.app.client import ApiClient

    client = ApiClient("http://testserver")
    client.http = api_client(stack)
    return client


def test_replay_with_materialize_writes_bytes_and_without_it_only_the_log(stack):
    from tiering.app.feeding import FeedStats, Pacer, feed
    from tiering.app.moves_cli import materializing_post
    from tiering.domain.records import AccessRecord, Op

    client = cli_client(stack)
    batches = [[AccessRecord(1.0, "acme", "trace/a", Op.PUT, 12_345),
                AccessRecord(2.0, "acme", "trace/b", Op.HEAD, 777)]]
    stats = FeedStats()
    feed(batches, materializing_post(client), stats, Pacer(0))
    assert stats.records == 2
    assert [len(stack.content(k)) for k in ("trace/a", "trace/b")] == [12_345, 777]
    client.post_batch([AccessRecord(3.0, "acme", "trace/log-only", Op.PUT, 10)], materialize=False)
    assert stack.state("trace/log-only")["size"] == 10 and stack.where("trace/log-only") == {}


def test_import_bucket_walks_every_page(stack):
    from tiering.app.moves_cli import import_bucket

    outside = f"legacy-{uuid.uuid4().hex[:8]}"
    stack.store.ensure_buckets([outside])
    for i in range(5):
        stack.store.put(outside, f"logs/2026/{i}.gz", bytes([i]) * (i * 100))
    pages = []
    totals = import_bucket(cli_client(stack), outside, "acme", "logs/", 2, pages.append)
    assert totals["imported"] == 5 and len(pages) == 3 and not totals["skipped"]
    for i in range(5):
        assert stack.content(f"logs/2026/{i}.gz") == bytes([i]) * (i * 100)
