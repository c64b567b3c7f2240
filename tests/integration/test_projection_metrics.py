"""Read models on the real event stores: per-prefix prices in /metrics,
metric snapshots, and a runner that follows new events."""

from __future__ import annotations

import threading

import pytest

from tests.support.projection_workload import T0, ingest, rec, run_move, workload
from tests.support.stored_policy import set_policy
from tiering.projections.queries import ReadModels
from tiering.projections.scopes import StoredPolicy

pytestmark = pytest.mark.integration


PREFIX_POLICY = """\
tenants:
  beta:
    hot: {storage_gb_month: 0.05}
prefixes:
  - prefix: k0
    hot: {storage_gb_month: 0.1, get_per_1k: 1.0}
  - prefix: k03
    tenant: acme
    warm: {storage_gb_month: 0.3}
  - prefix: k1
    tenant: beta
    hot: {storage_gb_month: 0.2}
"""


def storage_price(tenant, key, tier, prefixes=True):
    """PREFIX_POLICY written out by hand: the longest rule, else the tenant's."""
    if tier == "hot":
        if prefixes and tenant == "beta" and key.startswith("k1"):
            return 0.2
        if prefixes and key.startswith("k0"):
            return 0.1
        return 0.05 if tenant == "beta" else 0.023
    if tier == "warm":
        return 0.3 if prefixes and tenant == "acme" and key.startswith("k03") else 0.0125
    return 0.004


def expected_storage(rm, prefixes=True):
    objects, _ = rm.list_objects(limit=1000)
    return sum(max(o["size"], 0 if o["tier"] == "hot" else 128 * 1024)
               * storage_price(o["tenant"], o["key"], o["tier"], prefixes)
               for o in objects) / 1024 ** 3


def test_prefix_overrides_reach_metrics_and_survive_a_rebuild(store_settings, app, runner):
    policy = StoredPolicy.of_store(app)  # the store every process reads it from
    set_policy(policy, PREFIX_POLICY)
    r = runner(store_settings.model_copy(update={"projection_page": 7}))
    rm = ReadModels(r.db, policy=policy)
    for b, rows in enumerate(workload()):
        ingest(app, rows, f"b{b}")
        r.run_once()
    run_move(app, "k01", "mv-1", "warm", ["copied", "verified", "committed", "reclaimed"], T0 + 3000)
    ingest(app, [rec(T0 + 3200, "k03", "DELETE"), rec(T0 + 3300, "k03", "PUT", 7)], "late")
    run_move(app, "k03", "mv-3", "warm", ["copied", "verified", "committed"], T0 + 3400)
    r.catch_up()
    m = rm.metrics()
    assert m["cost"]["storage_usd_per_month"] == pytest.approx(expected_storage(rm), rel=1e-12)
    assert m["tiers"]["warm"]["objects"] == 2
    incremental = rm.dump()
    assert {row[1] for row in incremental["rm_scope_stats"]} == {"k0", "k03", "k1"}
    fresh = runner()
    fresh.rebuild()
    assert ReadModels(fresh.db).dump() == incremental
    # The rules change while no events arrive: the runner's next poll re-buckets.
    set_policy(policy, PREFIX_POLICY.split("prefixes:")[0])
    assert r.run_once() == 1  # the policy's own event, read past: no object changed
    assert r.run_once() == 0
    assert rm.dump()["rm_scope_stats"] == []
    assert rm.metrics()["cost"]["storage_usd_per_month"] == pytest.approx(
        expected_storage(rm, prefixes=False), rel=1e-12)


def test_snapshots_are_written_only_on_request(app, runner):
    ingest(app, [rec(T0, "a", "PUT", 10)], "b")
    r = runner()
    r.catch_up()
    rm = ReadModels(r.db)
    rm.metrics()
    assert rm.metrics_history() == []
    first = rm.write_snapshot(1000.0)
    assert first == {"taken_at": 1000.0, "event_time": T0, "metrics": rm.metrics()}
    ingest(app, [rec(T0 + 5, "b", "PUT", 10)], "c")
    r.catch_up()
    rm.write_snapshot(2000.0)
    history = rm.metrics_history()
    assert history[0] == first
    assert [(s["taken_at"], s["metrics"]["objects_total"]) for s in history] == \
        [(1000.0, 1), (2000.0, 2)]
    assert [s["taken_at"] for s in rm.metrics_history(since=1500.0)] == [2000.0]
    assert [s["taken_at"] for s in rm.metrics_history(limit=1)] == [2000.0]


def test_run_forever_follows_new_events_until_stopped(store_settings, app, runner):
    r = runner(store_settings.model_copy(update={"projection_poll_s": 0.02}))
    stop = threading.Event()
    thread = threading.Thread(target=r.run_forever, args=(stop,))
    thread.start()
    try:
        ingest(app, [rec(T0, "live", "PUT", 10)], "b")
        rm = ReadModels(r.db)
        for _ in range(250):
            if rm.get_object("acme", "live"):
                break
            stop.wait(0.02)
        assert rm.get_object("acme", "live")["size"] == 10
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
