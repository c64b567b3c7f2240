"""Quotas per tenant: over one, a 429-to-be naming the quota, and nothing done."""

import asyncio

import pytest

from tests.use_cases.fakes import FakeIngest, FakeSetting
from tiering.domain.quotas import QuotaConfig, TokenBucket
from tiering.domain.records import parse_record
from tiering.services.errors import Busy, Invalid
from tiering.services.ingest import IngestRecords
from tiering.services.policies import Policies
from tiering.services.quotas import QuotaGuard


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def guard(tmp_path, quotas, holdings=None, clock=None):
    policies = Policies(FakeSetting())
    policies.replace({"quotas": quotas})
    held = holdings or {}
    return QuotaGuard(policies, lambda t: held.get(t, {"objects": 0, "bytes": 0}), clock or Clock())


def recs(n, tenant="acme", op="PUT"):
    return [parse_record({"ts": 1_700_000_000 + i, "tenant": tenant, "key": f"k{i}", "op": op, "size": 1})
            for i in range(n)]


def test_ingest_over_the_rate_is_refused_until_the_bucket_refills(tmp_path):
    clock = Clock()
    g = guard(tmp_path, {"tenants": {"acme": {"ingest_records_per_s": 100}}}, clock=clock)
    port = FakeIngest()
    ingest = IngestRecords(port, 10_000, quotas=g)
    raws = [{"ts": 1, "tenant": "acme", "key": f"k{i}", "op": "GET"} for i in range(60)]
    asyncio.run(ingest(raws))
    with pytest.raises(Busy) as e:
        asyncio.run(ingest(raws))
    assert (e.value.quota, e.value.limit, e.value.retry_after_s) == ("ingest_records_per_s", 100, 1)
    assert len(port.batches) == 1
    clock.now += 1
    asyncio.run(ingest(raws))
    assert len(port.batches) == 2
    other = [{**r, "tenant": "zeta"} for r in raws]  # no quota for zeta: unlimited
    for _ in range(5):
        asyncio.run(ingest(other))


def test_a_tenant_at_its_object_or_byte_quota_may_not_add_but_may_still_be_read(tmp_path):
    g = guard(tmp_path, {"defaults": {"objects": 10, "bytes": 1000}},
              holdings={"acme": {"objects": 10, "bytes": 5}, "zeta": {"objects": 1, "bytes": 1000}})
    for tenant, quota in (("acme", "objects"), ("zeta", "bytes")):
        with pytest.raises(Busy) as e:
            g.check_ingest(recs(1, tenant))
        assert e.value.quota == quota and tenant in e.value.message
        g.check_ingest(recs(3, tenant, op="GET"))


def test_moves_per_day_reset_at_midnight_utc(tmp_path):
    clock = Clock(86_400 * 100 + 3600)
    g = guard(tmp_path, {"tenants": {"acme": {"moves_per_day": 2}}}, clock=clock)
    g.check_move("acme")
    g.check_move("acme")
    with pytest.raises(Busy) as e:
        g.check_move("acme")
    assert e.value.retry_after_s == 86_400 - 3600
    assert g.status("acme")["quotas"]["moves_per_day"] == {"limit": 2, "used": 2,
                                                            "meaning": g.status("acme")["quotas"]
                                                            ["moves_per_day"]["meaning"]}
    clock.now += 86_400
    g.check_move("acme")


def test_quotas_are_checked_when_the_policy_file_is_written(tmp_path):
    with pytest.raises(ValueError, match="quotas.tenants.acme.objects"):
        QuotaConfig.from_dict({"tenants": {"acme": {"objects": -1}}})
    with pytest.raises(ValueError, match="unknown quota"):
        QuotaConfig.from_dict({"defaults": {"files": 3}})
    assert QuotaConfig.from_dict({"defaults": {"objects": 5}, "tenants": {"a": {"objects": None}}}
                                 ).for_tenant("a")["objects"] == 5


def test_a_token_bucket_holds_one_second():
    b = TokenBucket(10, 0.0)
    assert b.take(10, 0.0) == 0.0 and b.take(1, 0.0) == pytest.approx(0.1)
    assert b.take(5, 100.0) == 0.0 and b.take(6, 100.0) == pytest.approx(0.1)


DAY = 86_400
NOW = 1_767_225_600.0  # the tenant's event clock: 2026-01-01


def windowed(tmp_path, quotas=None):
    policies = Policies(FakeSetting())
    policies.replace({"quotas": quotas or {}})
    clocks = {"acme": NOW}
    g = QuotaGuard(policies, None, Clock(), event_clock=clocks.get,
                   defaults={"ts_ahead_days": 30, "ts_behind_days": 365})
    port = FakeIngest()
    return IngestRecords(port, 10_000, quotas=g), port


def test_a_record_far_from_its_tenants_event_clock_is_refused_naming_ts(tmp_path):
    ingest, port = windowed(tmp_path)
    batch = [{"ts": NOW - DAY, "tenant": "acme", "key": "ok", "op": "GET"},
             {"ts": 0, "tenant": "acme", "key": "1970", "op": "GET"},
             {"ts": NOW + 74 * 365 * DAY, "tenant": "acme", "key": "2100", "op": "PUT", "size": 1}]
    with pytest.raises(Invalid) as e:
        asyncio.run(ingest(batch))
    assert [(x["index"], x["field"]) for x in e.value.errors] == [(1, "ts"), (2, "ts")]
    assert "behind" in e.value.errors[0]["reason"] and "ts_ahead_days" in e.value.errors[1]["reason"]
    assert port.batches == []  # nothing was applied


def test_a_tenant_with_no_clock_yet_is_checked_against_its_batch(tmp_path):
    ingest, port = windowed(tmp_path)
    batch = [{"ts": 1_000 + i, "tenant": "new", "key": f"k{i}", "op": "GET"} for i in range(5)]
    asyncio.run(ingest(batch))  # an old trace, consistent with itself
    with pytest.raises(Invalid):
        asyncio.run(ingest(batch + [{"ts": NOW, "tenant": "new", "key": "stray", "op": "GET"}]))
    assert len(port.batches) == 1


def test_the_policy_file_widens_the_window_for_one_tenant(tmp_path):
    ingest, port = windowed(tmp_path, {"tenants": {"acme": {"ts_behind_days": 30_000}}})
    asyncio.run(ingest([{"ts": 0, "tenant": "acme", "key": "1970", "op": "GET"}]))
    assert len(port.batches) == 1
