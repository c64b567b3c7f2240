import pytest

from tiering.domain.records import (
    MAX_LATENCY_MS,
    MAX_SIZE,
    MAX_TS,
    Op,
    RecordError,
    parse_batch,
    parse_record,
    parse_ts,
)


def test_iso_and_epoch_times_agree():
    assert parse_ts("2026-01-01T00:00:00Z") == parse_ts(1767225600) == parse_ts("1767225600.0")
    assert parse_ts("2026-01-01T00:00:00") == 1767225600.0  # naive means UTC


def test_defaults_and_normalisation():
    r = parse_record({"ts": 1, "key": "a", "op": "get"})
    assert r.tenant == "default" and r.op is Op.GET and r.size is None


@pytest.mark.parametrize("raw, field", [
    ({"key": "a", "op": "GET"}, "ts"),
    ({"ts": "yesterday", "key": "a", "op": "GET"}, "ts"),
    ({"ts": -1, "key": "a", "op": "GET"}, "ts"),
    ({"ts": 1, "key": "", "op": "GET"}, "key"),
    ({"ts": 1, "key": "a", "op": "LIST"}, "op"),
    ({"ts": 1, "key": "a", "op": "PUT"}, "size"),
    ({"ts": 1, "key": "a", "op": "PUT", "size": -5}, "size"),
    ({"ts": 1, "key": "a", "op": "PUT", "size": 1.5}, "size"),
    ({"ts": 1, "key": "a", "op": "GET", "latency_ms": "slow"}, "latency_ms"),
    ({"ts": 1, "key": "a", "op": "GET", "tenant": "bad tenant!"}, "tenant"),
    ({"ts": 1, "key": "a", "op": "GET", "colour": "red"}, "colour"),
])
def test_bad_fields_are_named(raw, field):
    with pytest.raises(RecordError) as e:
        parse_record(raw, 7)
    assert e.value.field == field and e.value.index == 7
    assert e.value.as_dict()["reason"]


def test_one_bad_record_rejects_the_batch_and_names_its_index():
    with pytest.raises(RecordError) as e:
        parse_batch([{"ts": 1, "key": "a", "op": "GET"}, {"ts": 1, "key": "b", "op": "NOPE"}])
    assert e.value.index == 1 and e.value.field == "op"


@pytest.mark.parametrize("field,raw", [
    ("ts", {"ts": 1.7e308, "key": "k", "op": "GET"}),
    ("ts", {"ts": 10**400, "key": "k", "op": "GET"}),
    ("ts", {"ts": "9" * 5000, "key": "k", "op": "GET"}),
    ("ts", {"ts": 10_000_000_001, "key": "k", "op": "GET"}),
    ("size", {"ts": 1, "key": "k", "op": "PUT", "size": 2**63}),
    ("size", {"ts": 1, "key": "k", "op": "PUT", "size": "9" * 30}),
    ("latency_ms", {"ts": 1, "key": "k", "op": "GET", "latency_ms": 10**400}),
    ("latency_ms", {"ts": 1, "key": "k", "op": "GET", "latency_ms": 1e12}),
    ("key", {"ts": 1, "key": "\ud800", "op": "GET"}),
])
def test_values_no_store_can_hold_are_refused_at_the_door(field, raw):
    """Each was once acknowledged, then stopped the projections for good."""
    with pytest.raises(RecordError) as e:
        parse_record(raw, 3)
    assert (e.value.field, e.value.index) == (field, 3) and len(e.value.reason) < 200


def test_the_largest_values_a_store_holds_are_taken():
    r = parse_record({"ts": MAX_TS, "key": "k", "op": "PUT", "size": MAX_SIZE, "latency_ms": MAX_LATENCY_MS})
    assert (r.ts, r.size, r.latency_ms) == (MAX_TS, MAX_SIZE, MAX_LATENCY_MS)
