"""Synthetic producer: deterministic, skewed, diurnal, aging, domain-valid."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tiering.domain.records import FIELDS, AccessRecord, Op, parse_record
from tiering.ingest.producer import SyntheticProducer
from tiering.ingest.traces import DEFAULT_BASE


def flat(batches):
    return [r for batch in batches for r in batch]


def test_same_seed_same_stream_whatever_the_batch_size():
    a = flat(SyntheticProducer(2_000, seed=42).batches(1_000, total=30_000))
    b = flat(SyntheticProducer(2_000, seed=42).batches(7, total=30_000))
    producer = SyntheticProducer(2_000, seed=42)
    c = list(producer.records(30_000))
    d = flat(producer.batches(30_000, total=30_000))  # a second call restarts the stream
    assert len(a) == 30_000
    assert a == b == c == d
    other = flat(SyntheticProducer(2_000, seed=43).batches(1_000, total=30_000))
    assert other != a


def test_batches_sizes_and_total():
    sizes = [len(b) for b in SyntheticProducer(100, seed=1).batches(4_000, total=10_001)]
    assert sizes == [4_000, 4_000, 2_001]
    assert list(SyntheticProducer(100, seed=1).batches(10, total=0)) == []
    with pytest.raises(ValueError, match="batch_size"):
        next(SyntheticProducer(100, seed=1).batches(0))


def test_records_are_valid_ordered_and_sized_per_object():
    producer = SyntheticProducer(5_000, seed=7, tenants=3)
    records = list(producer.records(50_000))
    assert all(type(r) is AccessRecord for r in records)
    for r in records[::251]:
        assert parse_record(dict(zip(FIELDS, r.as_tuple()))) == r
    ts = np.array([r.ts for r in records])
    assert ts[0] >= DEFAULT_BASE and np.all(np.diff(ts) >= 0)
    assert {r.tenant for r in records} == {"tenant-0", "tenant-1", "tenant-2"}
    sizes: dict[str, set] = {}
    tenants: dict[str, set] = {}
    for r in records:
        if r.op is Op.DELETE:
            assert r.size is None
        else:
            sizes.setdefault(r.key, set()).add(r.size)
        tenants.setdefault(r.key, set()).add(r.tenant)
    assert all(len(s) == 1 for s in sizes.values())  # size fixed per object
    assert all(len(t) == 1 for t in tenants.values())
    median = float(np.median([next(iter(s)) for s in sizes.values()]))
    assert 20_000 < median < 200_000  # lognormal around the 64 KiB default median


def test_op_mix_and_put_rules():
    records = list(SyntheticProducer(3_000, seed=11).records(100_000))
    ops = Counter(r.op for r in records)
    assert ops[Op.GET] + ops[Op.HEAD] > 0.8 * len(records)
    assert ops[Op.PUT] > ops[Op.DELETE] > 0
    assert ops[Op.DELETE] < 0.01 * len(records)
    alive: set[str] = set()
    for r in records:
        if r.key not in alive:
            assert r.op is Op.PUT, r  # first access, or first after a DELETE, creates the object
        if r.op is Op.DELETE:
            alive.discard(r.key)
        else:
            alive.add(r.key)


def test_zipf_skew():
    records = list(SyntheticProducer(10_000, seed=3, aging_half_life_s=None).records(200_000))
    counts = Counter(r.key for r in records)
    top = sum(n for _, n in counts.most_common(100))  # top 1% of the objects
    assert top / len(records) > 0.3
    flat_counts = Counter(r.key for r in SyntheticProducer(10_000, seed=3, zipf_s=0.0,
                                                           aging_half_life_s=None).records(200_000))
    assert sum(n for _, n in flat_counts.most_common(100)) / 200_000 < 0.05


def test_diurnal_rate_follows_the_day():
    producer = SyntheticProducer(2_000, seed=5, rate_per_s=1.0, diurnal_amplitude=0.8,
                                 diurnal_peak_hour=14.0)
    ts = np.array([r.ts for r in producer.records(260_000)])
    ts = ts[ts < DEFAULT_BASE + 2 * 86_400]  # two whole days
    assert len(ts) == pytest.approx(2 * 86_400, rel=0.02)  # mean rate = rate_per_s
    by_hour = np.bincount(((ts % 86_400) // 3600).astype(int), minlength=24)
    assert by_hour.argmax() in (13, 14)
    assert by_hour.argmin() in (1, 2, 3)
    assert by_hour[14] > 5 * by_hour[2]  # (1 + 0.8) / (1 - 0.8) = 9 at the extremes
    flat = SyntheticProducer(2_000, seed=5, rate_per_s=1.0, diurnal_amplitude=0.0)
    ts = np.array([r.ts for r in flat.records(172_800)])
    by_hour = np.bincount(((ts % 86_400) // 3600).astype(int), minlength=24)
    assert by_hour.max() < 1.2 * by_hour.min()


def test_aging_moves_traffic_to_new_objects():
    producer = SyntheticProducer(5_000, seed=9, rate_per_s=1.0, aging_half_life_s=3_600,
                                 initial_fraction=0.2, new_object_share=0.05)
    records = list(producer.records(20_000))
    ids = np.array([int(r.key.removeprefix("obj-")) for r in records])
    quarters = np.array_split(ids < producer.n_initial, 4)
    shares = [q.mean() for q in quarters]  # share of traffic on objects that existed at start
    assert shares[0] > 0.5 and shares[-1] < 0.1
    assert shares == sorted(shares, reverse=True)
    assert len(set(ids)) > producer.n_initial  # new objects were created during the run


def test_validation_errors():
    with pytest.raises(ValueError, match="objects"):
        SyntheticProducer(0, seed=1)
    with pytest.raises(ValueError, match="diurnal_amplitude"):
        SyntheticProducer(10, seed=1, diurnal_amplitude=1.5)
    with pytest.raises(ValueError, match="op_mix"):
        SyntheticProducer(10, seed=1, op_mix={"FETCH": 1.0})


def test_a_million_object_workload_draws_from_the_whole_population():
    producer = SyntheticProducer(1_000_000, seed=1)
    batches = list(producer.batches(5_000, total=300_000))
    assert sum(len(b) for b in batches) == 300_000
    keys = {r.key for b in batches for r in b}
    assert len(keys) > 10_000  # a Zipf tail over 1M objects, not a handful of keys
