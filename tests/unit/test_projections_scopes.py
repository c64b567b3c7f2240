"""Per-key-prefix price overrides in /metrics: the projector keeps aggregates
per (tenant, longest matching rule prefix, tier); /metrics prices them."""

from __future__ import annotations

import itertools

import pytest

from tests.support.stored_policy import set_policy, stored_policy
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import HOUR_S
from tiering.domain.costs import GB, SMALL_OBJECT_BYTES
from tiering.domain.policy_config import PolicyConfig
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.db import ReadModelDB
from tiering.projections.insights import Insights
from tiering.projections.projector import Projector
from tiering.projections.queries import ReadModels

H = 500_000 * HOUR_S
KB = 1024
# (tenant, key, size, tier it ends in, GETs while there)
OBJECTS = [("acme", "logs/a", 200 * KB, "warm", 3), ("acme", "logs/b", 1000, "warm", 2),
           ("acme", "data/c", 300 * KB, "warm", 1), ("beta", "logs/d", 400 * KB, "warm", 4),
           ("acme", "logs/e", 50 * KB, "hot", 5), ("beta", "other/f", 70 * KB, "cold", 0)]
WARM_DEFAULT = 0.0125

LOGS_DEARER = """\
tenants:
  acme:
    warm: {storage_gb_month: 0.02, retrieval_gb: 0.03}
prefixes:
  - prefix: logs/
    warm: {storage_gb_month: 1.0, retrieval_gb: 0.5}
"""
DATA_DEARER = LOGS_DEARER.replace("prefix: logs/", "prefix: data/")


@pytest.fixture
def events():
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    rows = [{"ts": H + i, "tenant": t, "key": k, "op": "PUT", "size": s}
            for i, (t, k, s, _, _) in enumerate(OBJECTS)]
    app.ingest(parse_batch(rows), "b1")
    for t, k, _, tier, _ in OBJECTS:
        if tier != "hot":
            app.command(t, k, lambda o: o.request_move("mv", Tier.parse(tier), "idle", H + 100))
            app.command(t, k, lambda o: o.record_copied("mv", H + 101))
            app.command(t, k, lambda o: o.record_verified("mv", "c", H + 102))
            app.command(t, k, lambda o: o.commit_move("mv", H + 103))
    gets = [{"ts": H + 200 + n, "tenant": t, "key": k, "op": "GET", "size": s}
            for t, k, s, _, n_gets in OBJECTS for n in range(n_gets)]
    app.ingest(parse_batch(gets), "b2")
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return [app.mapper.to_domain_event(n) for n in notifications]


def build(tmp_path, name, events, page_size, policy=None):
    """Read models built page by page, with ``policy`` (YAML) as the stored price policy."""
    stored = stored_policy(policy)
    db = ReadModelDB("sqlite", {"path": str(tmp_path / f"{name}.sqlite")})
    schema.ensure(db)
    projector = Projector(policy=stored)
    for i in range(0, len(events), page_size):
        with db.transaction():
            projector.apply(db, projector.prepare(events[i:i + page_size]))
    return ReadModels(db, policy=stored), projector


def warm_price(tenant, key, field, policy):
    """Independently of the code under test: the rule, else the tenant, else the default."""
    if key.startswith(policy):
        return {"storage_gb_month": 1.0, "retrieval_gb": 0.5}[field]
    if tenant == "acme":
        return {"storage_gb_month": 0.02, "retrieval_gb": 0.03}[field]
    return {"storage_gb_month": WARM_DEFAULT, "retrieval_gb": 0.01}[field]


def expected_warm(prefix):
    storage = sum(max(s, SMALL_OBJECT_BYTES) * warm_price(t, k, "storage_gb_month", prefix)
                  for t, k, s, tier, _ in OBJECTS if tier == "warm") / GB
    retrieval = sum(n * s * warm_price(t, k, "retrieval_gb", prefix)
                    for t, k, s, tier, n in OBJECTS if tier == "warm") / GB
    return storage, retrieval


def test_scope_is_the_longest_rule_and_prices_like_the_key():
    cfg = PolicyConfig.from_dict({
        "tenants": {"acme": {"cold": {"min_storage_days": 180}}},
        "prefixes": [{"prefix": "logs/", "warm": {"retrieval_gb": 0.02}},
                     {"prefix": "logs/", "tenant": "acme", "hot": {"get_per_1k": 1.0}},
                     {"prefix": "logs/2026/", "tenant": "acme", "warm": {"retrieval_gb": 0.03}},
                     {"prefix": "logs/2026/01", "cold": {"storage_gb_month": 0.5}}]})
    assert cfg.scope("acme", "logs/2026/02/x") == "logs/2026/"
    assert cfg.scope("zeta", "logs/2026/02/x") == "logs/"
    assert cfg.scope("zeta", "logs/2026/01/x") == "logs/2026/01"
    assert cfg.scope("acme", "data/x") == ""
    for tenant, key in itertools.product(("acme", "zeta"), ("logs/2026/01/x", "logs/2026/0",
                                                            "logs/x", "log", "data/x", "")):
        assert cfg.model_for(tenant, cfg.scope(tenant, key)) == cfg.model_for(tenant, key)


def test_a_prefix_rule_prices_its_objects_in_metrics(tmp_path, events):
    plain, _ = build(tmp_path, "plain", events, 5)
    rm, _ = build(tmp_path, "priced", events, 5, LOGS_DEARER)
    before, after = plain.metrics(), rm.metrics()
    storage, retrieval = expected_warm("logs/")
    assert after["tiers"]["warm"]["monthly_storage_usd"] == pytest.approx(storage, rel=1e-12)
    assert after["cost"]["retrieval_usd"] == pytest.approx(retrieval, rel=1e-12)
    # The default warm storage of the logs/ objects was replaced by the rule's price.
    logs_warm = sum(max(s, SMALL_OBJECT_BYTES) for t, k, s, tier, _ in OBJECTS
                    if tier == "warm" and k.startswith("logs/"))
    data_warm = 300 * KB
    assert after["tiers"]["warm"]["monthly_storage_usd"] - before["tiers"]["warm"][
        "monthly_storage_usd"] == pytest.approx(
        (logs_warm * (1.0 - WARM_DEFAULT) + data_warm * (0.02 - WARM_DEFAULT)) / GB, rel=1e-12)
    # Everything else is unchanged: counts, and the tiers no rule touches.
    assert after["tiers"]["cold"] == before["tiers"]["cold"]
    assert after["tiers"]["hot"] == before["tiers"]["hot"]
    assert (after["requests"], after["objects_total"]) == (before["requests"], before["objects_total"])
    # One tenant: the others' scoped rows do not leak in.
    beta = rm.metrics("beta")
    assert beta["tiers"]["warm"]["monthly_storage_usd"] == pytest.approx(400 * KB * 1.0 / GB)
    # The cost comparison prices "always hot" by the same scopes.
    hot_rule = LOGS_DEARER + "    hot: {storage_gb_month: 2.0}\n"
    set_policy(rm.policy, hot_rule)  # only a price changed: no re-bucketing needed
    hot_bytes = sum(s for t, k, s, *_ in OBJECTS if k.startswith("logs/"))
    other_bytes = sum(s for t, k, s, *_ in OBJECTS if not k.startswith("logs/"))
    parts = Insights(rm).cost_comparison()["parts"]["always_hot"]
    assert parts["storage"] == pytest.approx((hot_bytes * 2.0 + other_bytes * 0.023) / GB)


def test_scoped_tables_do_not_depend_on_page_boundaries(tmp_path, events):
    whole, _ = build(tmp_path, "whole", events, len(events), LOGS_DEARER)
    single, _ = build(tmp_path, "single", events, 1, LOGS_DEARER)
    assert whole.dump() == single.dump()
    assert whole.dump()["rm_scope_stats"] and whole.dump()["rm_scope_cost"]


def test_changing_the_rules_rebuckets(tmp_path, events):
    rm, projector = build(tmp_path, "changing", events, 4, LOGS_DEARER)
    set_policy(rm.policy, DATA_DEARER)
    with rm.db.transaction():  # what the runner does before a page, or when idle
        projector.scopes.sync(rm.db)
    storage, _ = expected_warm("data/")
    assert rm.metrics()["tiers"]["warm"]["monthly_storage_usd"] == pytest.approx(storage, rel=1e-12)
    fresh, _ = build(tmp_path, "fresh", events, 4, DATA_DEARER)
    now, rebuilt = rm.dump(), fresh.dump()
    # Storage is re-bucketed exactly, from rm_objects.
    assert now["rm_scope_stats"] == rebuilt["rm_scope_stats"]
    assert now["rm_scope_rules"] == rebuilt["rm_scope_rules"]
    # Accrued charges cannot be split afresh (documented in projections.scopes):
    # the removed rule's go back to the tenant; the new rule only gets them on
    # a rebuild, or for events after the change.
    assert not [r for r in now["rm_scope_cost"] if r[1] == "logs/"]
    assert not [r for r in now["rm_scope_cost"] if r[1] == "data/"]
    assert [r for r in rebuilt["rm_scope_cost"] if r[1] == "data/"]
    # No rules: nothing scoped, and the figures are the tenant's again.
    set_policy(rm.policy, "{}")  # no rules left
    with rm.db.transaction():
        projector.scopes.sync(rm.db)
    assert rm.dump()["rm_scope_stats"] == rm.dump()["rm_scope_cost"] == []
    plain, _ = build(tmp_path, "plain", events, 4)
    assert rm.metrics() == plain.metrics()


def test_an_unreadable_stored_policy_keeps_the_buckets(tmp_path, events):
    rm, projector = build(tmp_path, "kept", events, 6, LOGS_DEARER)
    before = rm.dump()
    set_policy(rm.policy, "prefixes: {not: a list}\n")
    with rm.db.transaction():
        projector.scopes.sync(rm.db)
    assert rm.dump() == before
