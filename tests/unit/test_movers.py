"""The move pieces that need no service: names, decisions, rules, offsets."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from tiering.actors.movers import Failpoints, mover_for
from tiering.adapters.bus import Decision
from tiering.adapters.bus_kafka import KafkaDecisionConsumer
from tiering.adapters.objectstore import TierBuckets, object_name, parse_object_name
from tiering.services.age_rule import AgeRule
from tiering.shards.materialized_bytes import synthetic_content

DAY = 86400.0


def state(**over):
    base = {"object_id": "6f1c2a4e-3b7d-5e10-9a8c-7d2f41b0c9e3", "tenant": "acme", "key": "k",
            "tier": "hot", "version": 7, "move": None, "deleted_at": None,
            "registered_at": 0.0, "last_access_at": None}
    return {**base, **over}


@pytest.mark.parametrize("key", ["a", "a//b", "dir/", ".", "..", "x/../y", "ünï code", "%2F",
                                 "q?x=1&y#z", " lead and trail "])
def test_object_names_round_trip_keys_the_store_would_otherwise_alias(key):
    name = object_name("acme", key)
    assert name.startswith("acme/") and "/" not in name[len("acme/"):]
    assert name not in ("acme/.", "acme/..")
    assert parse_object_name(name) == ("acme", key)


def test_names_we_did_not_make_are_not_parsed_and_long_keys_are_refused():
    assert parse_object_name("some/other/file") is None
    assert parse_object_name("noslash") is None
    assert parse_object_name("acme/a b") is None  # we would have encoded the space
    with pytest.raises(ValueError, match="1024 bytes"):
        object_name("acme", "é" * 500)


def test_tier_buckets_map_both_ways_and_must_differ():
    b = TierBuckets("h", "w", "c")
    assert [b.of(t) for t in ("hot", "WARM", "cold")] == ["h", "w", "c"]
    assert b.tier_of("w").value == "warm"
    with pytest.raises(ValueError):
        TierBuckets("same", "same", "c")


def test_a_decision_on_the_same_version_and_target_is_the_same_move():
    a = Decision.for_object(state(), "warm", "one", "operator", 1.0)
    b = Decision.for_object(state(), "WARM", "another", "age-rule", 2.0)
    assert a.move_id == b.move_id
    assert Decision.for_object(state(version=8), "warm", "", "x", 0).move_id != a.move_id
    assert Decision.for_object(state(), "cold", "", "x", 0).move_id != a.move_id
    assert Decision.decode(a.encode()) == a
    resumed = Decision.resuming(state(move={"move_id": a.move_id, "source": "hot",
                                            "target": "warm", "requested_at": 5.0}))
    assert (resumed.move_id, resumed.source, resumed.target) == (a.move_id, "hot", "warm")


def test_the_age_rule_measures_idle_time_against_the_newest_access():
    rule = AgeRule(warm_after_s=30 * DAY, cold_after_s=90 * DAY)
    rows = [state(key="fresh", last_access_at=200 * DAY),
            state(key="idle-40d", last_access_at=160 * DAY),
            state(key="idle-100d", last_access_at=100 * DAY),
            state(key="warm-100d", tier="warm", last_access_at=100 * DAY),
            state(key="warm-40d", tier="warm", last_access_at=160 * DAY),
            state(key="never-accessed", registered_at=150 * DAY),
            state(key="moving", last_access_at=0.0, move={"move_id": "m"}),
            state(key="gone", last_access_at=0.0, deleted_at=1.0)]
    got = {d.key: d.target for d in rule.decide(rows)}
    assert got == {"idle-40d": "warm", "idle-100d": "cold", "warm-100d": "cold",
                   "never-accessed": "warm"}
    idle40 = next(d for d in rule.decide(rows) if d.key == "idle-40d")
    assert "idle 40.0 days" in idle40.reason and idle40.decided_at == 200 * DAY  # stamped in event time


def test_the_age_rule_ages_each_tenant_on_its_own_clock():
    """Another tenant's replay, far ahead in event time, ages nobody else."""
    rule = AgeRule(warm_after_s=30 * DAY, cold_after_s=90 * DAY)
    rows = [state(key="quiet", last_access_at=100 * DAY),
            state(key="replayed", tenant="replay", last_access_at=5000 * DAY)]
    assert list(rule.decide(rows)) == []
    assert list(rule.decide(rows, {"acme": 110 * DAY, "replay": 5000 * DAY})) == []
    (d,) = rule.decide(rows, {"acme": 140 * DAY, "replay": 5000 * DAY})
    assert (d.key, d.target, d.decided_at) == ("quiet", "warm", 140 * DAY)


def test_synthetic_content_is_deterministic_per_seed_and_sized():
    assert synthetic_content("s", 1000) == synthetic_content("s", 1000)
    assert synthetic_content("s", 1000) != synthetic_content("t", 1000)
    assert len(synthetic_content("s", 0)) == 0


def test_one_object_always_goes_to_the_same_mover():
    oid = "6f1c2a4e-3b7d-5e10-9a8c-7d2f41b0c9e3"
    assert len({mover_for(oid, 3) for _ in range(5)}) == 1
    assert {mover_for(f"6f1c2a4e-3b7d-5e10-9a8c-7d2f41b0c9{i:02x}", 3) for i in range(30)} == {0, 1, 2}


def test_a_failpoint_fires_once_on_the_nth_pass_and_leaves_a_marker(tmp_path):
    marker = tmp_path / "fired"
    fp = Failpoints([{"step": "copied", "nth": 2, "sleep": 0, "marker": str(marker)}])
    asyncio.run(fp.hit("copied"))
    assert not marker.exists()
    asyncio.run(fp.hit("copied"))
    assert marker.exists()
    Failpoints(fp.spec)  # a restarted process sees the marker and does not fire again


class FakeConsumer:
    """Stands in for AIOKafkaConsumer's commit bookkeeping only."""

    def __init__(self, owned):
        self.owned, self.commits = set(owned), []

    def assignment(self):
        return self.owned

    async def commit(self, offsets):
        self.commits.append(dict(offsets))


def test_offsets_are_committed_only_up_to_the_first_record_still_in_progress():
    c = KafkaDecisionConsumer("unused:9092", handle=None)
    tp, other = TopicPartition("d", 0), TopicPartition("d", 1)
    consumer = FakeConsumer([tp])
    c._offsets[tp].extend([10, 11, 12, 13])
    c._done[tp].update({10, 12, 13})  # 11 is still being moved
    asyncio.run(c._commit(consumer))
    assert consumer.commits == [{tp: 11}]
    c._done[tp].add(11)
    asyncio.run(c._commit(consumer))
    assert consumer.commits[-1] == {tp: 14}
    c._offsets[other].append(5)
    c._done[other].add(5)
    asyncio.run(c._commit(consumer))  # no longer ours: its next owner redelivers it
    assert len(consumer.commits) == 2 and not c._to_commit


def test_the_byte_budget_holds_large_copies_back_and_lets_small_ones_through():
    from tiering.shards.flow import ByteBudget

    async def scenario():
        budget, log = ByteBudget(100), []

        async def copy(name, size, hold_s):
            async with budget.hold(size):
                log.append((name, "start", budget.used))
                await asyncio.sleep(hold_s)

        await asyncio.gather(copy("big-1", 80, 0.05), copy("big-2", 80, 0.01),
                             copy("small", 10, 0.01), copy("huge", 10_000, 0.01))
        return log

    log = asyncio.run(scenario())
    starts = [name for name, _, _ in log]
    assert starts[:2] == ["big-1", "small"]  # big-2 waits for room; small fits beside big-1
    assert max(used for _, _, used in log) <= 100
    assert set(starts) == {"big-1", "big-2", "small", "huge"}  # larger than the budget: alone
