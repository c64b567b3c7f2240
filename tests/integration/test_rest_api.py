"""The REST API through httpx, over real stores, real projections, real shards."""

from __future__ import annotations

import json
import re
import time

import pytest
from fastapi.testclient import TestClient

from tests.support.api import authorized, issue_key
from tiering.app.wiring import build_services
from tiering.projections.runner import ProjectionRunner
from tiering.shards.ingest import LocalIngest
from tiering.shards.worker import ShardWorker
from tiering.web.app import create_app

pytestmark = pytest.mark.integration


class Stack:
    def __init__(self, settings):
        self.settings = settings
        self.workers = [ShardWorker(i, settings) for i in range(settings.shards)]
        self.services = build_services(settings, LocalIngest(self.workers))
        self.client = authorized(TestClient(create_app(self.services)))
        self.runner = ProjectionRunner(settings)

    def post(self, records, **kw):
        return self.client.post("/accesses", json=records, **kw)

    def close(self):
        self.services.close()
        self.runner.close()
        for w in self.workers:
            w.close()

    def project(self):
        while self.runner.run_once():
            pass


@pytest.fixture
def stack(store_settings):
    stack = Stack(store_settings)
    yield stack
    stack.close()


def rec(ts, key, op, size=None, tenant=None, **extra):
    out = {"ts": ts, "key": key, "op": op, **extra}
    if size is not None:
        out["size"] = size
    if tenant is not None:
        out["tenant"] = tenant
    return out


def test_ingest_then_read_objects_history_and_metrics(stack):
    resp = stack.post([rec(1, "a/1", "PUT", 1000), rec(2, "a/1", "GET"), rec(3, "a/2", "PUT", 10),
                       rec("1970-01-01T00:00:04Z", "b/1", "HEAD", 5, tenant="t2")])
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 4 and resp.json()["registered"] == 3
    stack.project()
    one = stack.client.get("/objects/a/1")
    assert one.status_code == 200
    body = one.json()
    assert body["accesses_total"] == 2 and body["tier"] == "hot" and body["size"] == 1000
    assert body["bucket"] == "hot"
    hist = stack.client.get("/objects/a/1/history").json()["events"]
    assert [e["kind"] for e in hist] == ["Registered", "AccessesRecorded"]
    assert stack.client.get("/objects/b/1", params={"tenant": "t2"}).json()["accesses_total"] == 1
    listing = stack.client.get("/objects", params={"prefix": "a/"}).json()
    assert sorted(i["key"] for i in listing["items"]) == ["a/1", "a/2"]
    metrics = stack.client.get("/metrics").json()
    assert metrics["objects_total"] == 3
    assert metrics["tiers"]["hot"]["bytes"] == 1015
    for field in ("monthly_cost_usd", "moves_completed", "moves_failed", "moves_in_flight",
                  "move_success_rate"):
        assert field in metrics


def test_put_policies_prefix_rules_reach_metrics(stack):
    gb = 1024 ** 3
    stack.post([rec(1, "logs/1", "PUT", 1000), rec(2, "logs/2", "PUT", 3000),
                rec(3, "data/1", "PUT", 500), rec(4, "logs/3", "PUT", 70, tenant="t2")])
    stack.project()
    body = {"tenants": {"t2": {"hot": {"storage_gb_month": 0.5}}},
            "prefixes": [{"prefix": "logs/", "tenant": "default", "hot": {"storage_gb_month": 10.0}}]}
    assert stack.client.put("/policies", json=body).status_code == 200
    stack.project()  # the runner re-buckets on its next poll, with or without new events
    hot = stack.client.get("/metrics").json()["tiers"]["hot"]["monthly_storage_usd"]
    assert hot == pytest.approx((4000 * 10.0 + 500 * 0.023 + 70 * 0.5) / gb, rel=1e-12)
    body["prefixes"][0]["prefix"] = "data/"
    assert stack.client.put("/policies", json=body).status_code == 200
    stack.project()
    hot = stack.client.get("/metrics").json()["tiers"]["hot"]["monthly_storage_usd"]
    assert hot == pytest.approx((4000 * 0.023 + 500 * 10.0 + 70 * 0.5) / gb, rel=1e-12)


def test_ndjson_batches_are_accepted(stack):
    body = "\n".join(json.dumps(rec(i, f"n{i}", "PUT", i)) for i in range(1, 6))
    resp = stack.client.post("/accesses", content=body,
                             headers={"content-type": "application/x-ndjson"})
    assert resp.status_code == 200 and resp.json()["accepted"] == 5


def test_a_malformed_record_rejects_the_whole_batch_and_changes_nothing(stack):
    stack.post([rec(1, "keep", "PUT", 1)])
    stack.project()
    head_before = stack.services.health_checks["event_store"]()["head"]
    metrics_before = stack.client.get("/metrics").json()
    resp = stack.post([rec(2, "x", "PUT", 3), rec(3, "keep", "GET"), rec(4, "y", "FETCH")])
    assert resp.status_code == 422
    detail = resp.json()["errors"]
    assert detail == [{"index": 2, "field": "op", "reason": detail[0]["reason"]}]
    assert "GET" in detail[0]["reason"]
    stack.project()
    assert stack.services.health_checks["event_store"]()["head"] == head_before
    assert stack.client.get("/metrics").json()["objects_total"] == metrics_before["objects_total"]
    assert stack.client.get("/objects/x").status_code == 404
    assert stack.client.get("/objects/keep").json()["accesses_total"] == 1


def test_bad_json_and_non_arrays_are_422_with_a_reason(stack):
    bad = stack.client.post("/accesses", content=b"[{", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "not JSON" in bad.json()["errors"][0]["reason"]
    obj = stack.post({"ts": 1, "key": "k", "op": "GET"})
    assert obj.status_code == 422 and "array" in obj.json()["errors"][0]["reason"]


def test_an_oversized_batch_is_413_and_states_the_limit(store_settings):
    stack = Stack(store_settings.model_copy(update={"max_batch_records": 5}))
    resp = stack.post([rec(i, f"k{i}", "PUT", 1) for i in range(1, 7)])
    assert resp.status_code == 413
    assert "6 records" in resp.json()["detail"] and "limit of 5" in resp.json()["detail"]
    assert stack.services.health_checks["event_store"]()["head"] == 0


def test_unknown_keys_are_404(stack):
    assert stack.client.get("/objects/nope").status_code == 404
    assert stack.client.get("/objects/nope/history").status_code == 404
    assert stack.client.get("/movements/nope").status_code == 404


def test_cursor_pagination_visits_every_object_once(stack):
    stack.post([rec(i, f"p/{i:03d}", "PUT", i) for i in range(1, 251)])
    stack.project()
    seen, cursor, pages = [], None, 0
    while True:
        page = stack.client.get("/objects", params={"limit": 60, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["key"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 5 and len(seen) == 250 and len(set(seen)) == 250
    assert stack.client.get("/objects", params={"cursor": "garbage"}).status_code == 422
    assert stack.client.get("/objects", params={"tier": "lukewarm"}).status_code == 422


def test_health_checks_each_dependency(stack):
    resp = stack.client.get("/health")
    assert resp.status_code == 200
    checks = resp.json()["checks"]
    assert {"event_store", "read_models", "projections"} <= set(checks)
    assert all(c["ok"] for c in checks.values())


def test_prometheus_counts_ingest(stack):
    stack.post([rec(1, "c", "PUT", 1)])
    stack.post([rec(1, "c", "BAD")])
    text = stack.client.get("/metrics/prometheus").text
    assert 'tiering_ingest_records_total{outcome="accepted"} 1.0' in text
    assert 'tiering_ingest_batches_total{outcome="rejected"} 1.0' in text
    # the estate as the logs say, and the API process itself
    stack.project()
    text = stack.client.get("/metrics/prometheus").text
    assert 'tiering_objects{tier="hot"} 1.0' in text and 'tiering_moves{outcome="completed"} 0.0' in text
    assert "process_resident_memory_bytes" in text and "python_info" in text


def test_metric_history_comes_from_snapshots(stack):
    stack.post([rec(1, "s", "PUT", 9)])
    stack.project()
    assert stack.client.get("/metrics/history").json()["snapshots"] == []
    stack.services.read_models.write_snapshot(1000.0)
    snaps = stack.client.get("/metrics/history").json()["snapshots"]
    assert len(snaps) == 1 and snaps[0]["metrics"]["objects_total"] == 1


def test_every_call_needs_a_valid_key(store_settings):
    stack = Stack(store_settings)
    services = stack.services
    anonymous = {"Authorization": ""}
    assert stack.post([rec(1, "k", "PUT", 1)], headers=anonymous).status_code == 401
    assert stack.client.get("/objects", headers=anonymous).status_code == 401
    r = stack.client.get("/objects", headers={"Authorization": "Bearer tk_000000000000_guess"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    viewer = issue_key(services, "default", "viewer", "v")
    assert stack.post([rec(1, "k", "PUT", 1)], headers={"X-API-Key": viewer}).status_code == 403
    assert stack.client.get("/objects", headers={"X-API-Key": viewer}).status_code == 200
    assert services.health_checks["event_store"]()["head"] == 0
    expired = issue_key(services, "default", "viewer", "old", expires_in_s=0.001)
    time.sleep(0.01)  # the key's lifetime, not a synchronisation
    assert stack.client.get("/objects", headers={"X-API-Key": expired}).status_code == 401


def test_a_revoked_key_stops_working(store_settings):
    stack = Stack(store_settings)
    key = stack.client.post("/keys", json={"name": "ci", "tenant": "default", "role": "operator"}).json()
    assert stack.client.get("/whoami", headers={"X-API-Key": key["key"]}).json()["identity"] == f"ci#{key['key_id']}"
    assert stack.client.delete(f"/keys/{key['key_id']}").status_code == 200
    assert stack.client.get("/whoami", headers={"X-API-Key": key["key"]}).status_code == 401
    listed = {k["key_id"]: k for k in stack.client.get("/keys").json()["items"]}
    assert listed[key["key_id"]]["revoked"] and "key" not in listed[key["key_id"]]


def test_poison_records_are_refused_and_the_projections_keep_up(stack):
    """Each of these was once a 200 (or a 500) that stopped the read models."""
    bodies = [
        (json.dumps([rec(1.7e308, "x", "GET")]).encode(), "ts"),
        (json.dumps([rec(1, "x", "PUT", 2**63)]).encode(), "size"),
        (b'[{"ts": ' + b"9" * 5000 + b', "key": "x", "op": "GET"}]', "body"),
        (b'[{"ts": 1, "key": "\\ud800", "op": "GET"}]', "key"),
        (b'[{"ts": 1, "key": "\xff\xfe", "op": "GET"}]', "body"),
        (b"[" * 100_000, "body"),
    ]
    for body, field in bodies:
        r = stack.client.post("/accesses", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (field, r.text[:200])
    assert stack.post([rec(5, "after", "PUT", 1)]).status_code == 200
    stack.project()
    assert stack.client.get("/objects/after").json()["accesses_total"] == 1


def test_a_record_far_from_its_tenants_event_clock_is_a_422_naming_ts(stack):
    """A stray record dated 1970, or 2100, once aged or froze its tenant's estate."""
    t0 = 1_767_225_600  # 2026-01-01
    assert stack.post([rec(t0, "a", "PUT", 1)]).status_code == 200
    stack.project()
    head = stack.services.health_checks["event_store"]()["head"]
    for stray in (0, t0 + 74 * 365 * 86_400):
        r = stack.post([rec(t0 + 60, "b", "GET"), rec(stray, "c", "GET")])
        assert r.status_code == 422, r.text
        assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "ts")]
    assert stack.services.health_checks["event_store"]()["head"] == head  # nothing applied
    widened = {"quotas": {"tenants": {"default": {"ts_behind_days": 30_000}}}}
    assert stack.client.put("/policies", json=widened).status_code == 200
    assert stack.post([rec(0, "c", "GET")]).status_code == 200
    limits = stack.client.get("/quotas", params={"tenant": "default"}).json()["quotas"]
    assert (limits["ts_behind_days"]["limit"], limits["ts_ahead_days"]["limit"]) == (30_000, 366)


def test_over_a_quota_is_a_429_that_names_it_and_changes_nothing(stack):
    limits = {"quotas": {"tenants": {"default": {"ingest_records_per_s": 3, "objects": 2}}}}
    assert stack.client.put("/policies", json=limits).status_code == 200
    assert stack.post([rec(1, "a", "PUT", 1), rec(2, "b", "PUT", 1)]).status_code == 200
    head = stack.services.health_checks["event_store"]()["head"]
    r = stack.post([rec(3, "c", "GET"), rec(4, "d", "GET")])
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["quota"] == "ingest_records_per_s" and r.json()["limit"] == 3
    assert stack.services.health_checks["event_store"]()["head"] == head
    stack.project()
    time.sleep(1.0)  # the quota's own second, not a synchronisation
    over = stack.post([rec(5, "e", "PUT", 1)])
    assert over.status_code == 429 and over.json()["quota"] == "objects"
    used = stack.client.get("/quotas", params={"tenant": "default"}).json()["quotas"]
    assert used["objects"] == {"limit": 2, "used": 2, "meaning": used["objects"]["meaning"]}


def test_the_api_documents_itself_without_the_internet(stack):
    """/docs and /redoc load their scripts and styles from the app, not a CDN."""
    anonymous = TestClient(stack.client.app, base_url="http://127.0.0.1")
    for page in ("/docs", "/redoc"):
        r = anonymous.get(page)
        assert r.status_code == 200 and "https://" not in r.text and "//cdn" not in r.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
        for asset in assets:
            assert anonymous.get(asset).status_code == 200, asset


# ----- exactly once under retries: Idempotency-Key ----------------------------------
def _accesses(stack, key):
    return stack.client.get(f"/objects/{key}").json()["accesses_total"]


def test_a_batch_retried_with_its_idempotency_key_is_applied_once(stack):
    first = [rec(10, "idem/a", "PUT", 100), rec(11, "idem/a", "GET"), rec(12, "idem/b", "PUT", 5)]
    sent = stack.post(first, headers={"Idempotency-Key": "batch-0001"})
    assert sent.status_code == 200, sent.text
    assert "idempotent-replayed" not in sent.headers
    # Another batch touches the same object before the retry comes.
    assert stack.post([rec(13, "idem/a", "GET")]).status_code == 200
    again = stack.post(first, headers={"Idempotency-Key": "batch-0001"})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == sent.json()
    stack.project()
    assert (_accesses(stack, "idem/a"), _accesses(stack, "idem/b")) == (3, 1)
    # Shards' batch markers are not object events, and the runner reads past them.
    kinds = [e["kind"] for e in stack.client.get("/objects/idem/a/history").json()["events"]]
    assert kinds == ["Registered", "AccessesRecorded", "AccessesRecorded"]
    position, newest = stack.runner.lag()
    assert position == newest

    # The same key for other records: refused, and nothing applied.
    other = stack.post([rec(14, "idem/a", "GET")], headers={"Idempotency-Key": "batch-0001"})
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    stack.project()
    assert _accesses(stack, "idem/a") == 3


@pytest.mark.parametrize("bad", ["", "x" * 256, "has space", "tab\tin"])
def test_a_malformed_idempotency_key_is_a_422_naming_it(stack, bad):
    resp = stack.post([rec(20, "idem/c", "PUT", 1)], headers={"Idempotency-Key": bad})
    assert resp.status_code == 422, resp.text
    assert "Idempotency-Key" in resp.text
    stack.project()
    assert stack.client.get("/objects/idem/c").status_code == 404


def test_the_retry_of_a_batch_a_crash_left_half_applied_completes_it_once(stack):
    """As if the process died after one shard committed its part and before the other
    did: the client's retry with the same key applies the missing part only."""
    from tiering.domain.governance import ALL_TENANTS
    from tiering.domain.records import parse_record
    from tiering.shards.ingest import _parts

    body = [rec(30 + i, f"half/{i}", "PUT", 10) for i in range(12)] + \
           [rec(50 + i, f"half/{i}", "GET") for i in range(12)]
    records = [parse_record(r, i) for i, r in enumerate(body)]
    parts, ids, digest = _parts(records, len(stack.workers), f"{ALL_TENANTS}\0crash-1")
    assert len([p for p in parts.values() if p[0]]) == 2  # the batch spans both shards
    stack.workers[0].ingest(parts[0], ids[0], digest)  # shard 0 committed, shard 1 never did
    resp = stack.post(body, headers={"Idempotency-Key": "crash-1"})
    assert resp.status_code == 200 and resp.json()["accepted"] == len(body)
    stack.project()
    assert [_accesses(stack, f"half/{i}") for i in range(12)] == [2] * 12


def test_ingest_over_its_bound_in_flight_is_a_429_with_retry_after_and_applies_nothing(stack):
    gate = stack.services.ingest.admission
    with gate.admit(gate.max_bytes):  # as if other batches filled it
        busy = stack.post([rec(70, "busy/a", "PUT", 5)])
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert "capacity" in busy.json()["detail"]
    stack.project()
    assert stack.client.get("/objects/busy/a").status_code == 404
    again = stack.post([rec(70, "busy/a", "PUT", 5)])  # room again
    assert again.status_code == 200
    assert (gate.bytes, gate.requests) == (0, 0)
