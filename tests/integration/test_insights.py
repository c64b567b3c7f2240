"""Insights queries over real read-model rows on SQLite and PostgreSQL.

The rows are written by the real Projector from events of a real (in-memory)
object log, so the queries are checked against what production writes.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import authorized
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import HOUR_S
from tiering.domain.costs import GB, IT_MONITORING_PER_1K_MONTH, MONTH_S, SMALL_OBJECT_BYTES
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.db import ReadModelDB
from tiering.projections.insights import Insights
from tiering.projections.projector import Projector
from tiering.projections.queries import ReadModels
from tiering.web.app import create_app
from tiering.web.deps import Services

H = 500_000 * HOUR_S  # an hour boundary


def rec(ts, key, op, size=None, tenant="acme"):
    return {"ts": ts, "tenant": tenant, "key": key, "op": op, "size": size}


def move(app, key, move_id, target, at, ending):
    app.command("acme", key, lambda o: o.request_move(move_id, target, "idle", at))
    if ending == "failed":
        app.command("acme", key, lambda o: o.fail_move(move_id, "copy refused", 8, at + 1))
    if ending != "completed":
        return
    app.command("acme", key, lambda o: o.record_copied(move_id, at + 1))
    app.command("acme", key, lambda o: o.record_verified(move_id, "c", at + 2))
    app.command("acme", key, lambda o: o.commit_move(move_id, at + 3))
    app.command("acme", key, lambda o: o.record_source_reclaimed(move_id, at + 4))


@pytest.fixture
def insights(store_settings):
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    big = 2 * GB
    app.ingest(parse_batch([rec(H, "big", "PUT", big), rec(H, "small", "PUT", 1000),
                            rec(H, "mid", "PUT", 10 * SMALL_OBJECT_BYTES),
                            rec(H, "other", "PUT", 500, tenant="zeta")]), "b1")
    # Hour 0: big 5 GETs; hour 2: small 3 GETs; hour 4: mid 1 GET, zeta 7 GETs.
    app.ingest(parse_batch([rec(H + 60 + i, "big", "GET") for i in range(5)]), "b2")
    app.ingest(parse_batch([rec(H + 2 * HOUR_S + i, "small", "GET") for i in range(3)]), "b3")
    # moves are stamped in event time, so they are recorded before the later accesses
    move(app, "big", "m1", Tier.WARM, H + 100, "completed")           # hour 0, completed
    move(app, "mid", "m2", Tier.COLD, H + 2 * HOUR_S + 10, "failed")  # hour 2, failed
    move(app, "small", "m3", Tier.WARM, H + 2 * HOUR_S + 20, "in_flight")  # hour 2, in flight
    app.ingest(parse_batch([rec(H + 4 * HOUR_S, "mid", "GET")]
                           + [rec(H + 4 * HOUR_S + i, "other", "GET", tenant="zeta")
                              for i in range(7)]), "b4")
    events = [app.mapper.to_domain_event(n)
              for n in app.recorder.select_notifications(start=1, limit=10_000)]
    db = ReadModelDB.from_settings(store_settings)
    schema.ensure(db)
    projector = Projector()
    with db.transaction():
        projector.apply(db, projector.prepare(events))
    rm = ReadModels(db)
    yield Insights(rm), rm, store_settings
    db.close()


def test_moves_per_hour_counts_each_move_in_its_request_hour_by_outcome(insights):
    ins, _, _ = insights
    got = ins.moves_per_hour(hours=48)["items"]
    assert got == [{"hour": H, "outcome": "completed", "moves": 1},
                   {"hour": H + 2 * HOUR_S, "outcome": "failed", "moves": 1},
                   {"hour": H + 2 * HOUR_S, "outcome": "in_flight", "moves": 1}]
    # The window ends at the newest request: one hour holds only hour 2.
    assert [r["hour"] for r in ins.moves_per_hour(hours=1)["items"]] == [H + 2 * HOUR_S] * 2
    assert ins.moves_per_hour(tenant="zeta")["items"] == []


def test_top_objects_rank_recent_accesses_within_the_window(insights):
    ins, _, _ = insights
    top = ins.top_objects(hours=24, limit=10)
    # The commit moved "big" to warm; the newest event is at hour 4.
    assert [(r["tenant"], r["key"], r["accesses"], r["tier"]) for r in top["items"]] == [
        ("zeta", "other", 8, "hot"), ("acme", "big", 6, "warm"), ("acme", "small", 4, "hot"),
        ("acme", "mid", 2, "hot")]
    assert top["event_time"] == H + 4 * HOUR_S + 6
    # Three hours back from hour 4 leaves out hour 0 (big's accesses) entirely.
    recent = ins.top_objects(hours=3, limit=10)["items"]
    assert [(r["key"], r["accesses"]) for r in recent] == [("other", 7), ("small", 3), ("mid", 1)]
    assert [r["key"] for r in ins.top_objects(hours=24, limit=2, tenant="acme")["items"]] == \
        ["big", "small"]


def test_cost_comparison_prices_the_tier_aggregates(insights):
    ins, rm, _ = insights
    got = ins.cost_comparison(tenant="acme")
    # Ours agrees with /metrics, which prices the same aggregates.
    assert got["ours_usd_per_month"] == pytest.approx(rm.metrics("acme")["monthly_cost_usd"])
    # Everything hot: 2 GiB + 10 x 128 KiB + 1000 bytes at S3 Standard, plus requests.
    stored = 2 * GB + 10 * SMALL_OBJECT_BYTES + 1000
    hot = got["parts"]["always_hot"]
    assert hot["storage"] == pytest.approx(0.023 * stored / GB)
    assert hot["requests"] > 0
    it = got["parts"]["intelligent_tiering"]
    # "big" sits in warm (infrequent access), "mid" and "small" in hot; the
    # 1000-byte object is never monitored.
    assert it["monitored_objects"] == 2
    assert it["monitoring"] == pytest.approx(IT_MONITORING_PER_1K_MONTH * 2 / 1000)
    assert it["storage"] == pytest.approx((0.0125 * 2 * GB + 0.023 * (10 * SMALL_OBJECT_BYTES + 1000))
                                          / GB)
    assert got["always_hot_usd_per_month"] > got["intelligent_tiering_usd_per_month"]
    whole = ins.cost_comparison()
    assert whole["always_hot_usd_per_month"] > got["always_hot_usd_per_month"]
    assert got["observed_s"] == pytest.approx(4 * HOUR_S + 6) and MONTH_S > 0


def test_insights_over_rest(insights):
    _, rm, settings = insights
    client = authorized(TestClient(create_app(Services(settings=settings, read_models=rm))))
    assert client.get("/insights/tenants").json() == {"tenants": ["acme", "zeta"]}
    moves = client.get("/insights/moves-per-hour", params={"hours": 1}).json()
    assert {r["outcome"] for r in moves["items"]} == {"failed", "in_flight"}
    top = client.get("/insights/top-objects", params={"limit": 1}).json()
    assert [r["key"] for r in top["items"]] == ["other"]
    cost = client.get("/insights/cost-comparison", params={"tenant": "zeta"}).json()
    assert cost["tenant"] == "zeta" and cost["parts"]["intelligent_tiering"]["monitored_objects"] == 0
    assert client.get("/insights/top-objects", params={"limit": 101}).status_code == 422
    assert client.get("/insights/moves-per-hour", params={"hours": 0}).status_code == 422
