"""Every route × every role × own and other tenant × no key.

The routes are read from the app, so a route added without an access rule,
or without a sample request here, fails this test. For each call the
expected answer follows from the route's rule (``web.auth``): no key 401; a
role below the rule's, or a one-tenant key where the rule spans every tenant,
403; another tenant's things 404 (403 for a write naming that tenant).
Every refused call is checked to have changed nothing: the event log, the
governance log, the policy file.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.support.api import issue_key
from tiering.app.wiring import build_services
from tiering.config import Settings
from tiering.domain.governance import ALL_TENANTS, Role
from tiering.projections.runner import ProjectionRunner
from tiering.services.job_runners import InProcessJobRunner
from tiering.shards.ingest import LocalIngest
from tiering.shards.worker import ShardWorker
from tiering.web.app import create_app
from tiering.web.auth import RULES

pytestmark = pytest.mark.integration
OWN, OTHER = "acme", "zeta"
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def record(tenant: str) -> dict:
    return {"ts": 1_700_000_000, "tenant": tenant, "key": "probe", "op": "PUT", "size": 1}


# A request per route: (path params, query, JSON body), for a call about ``t``.
SAMPLES = {
    ("GET", "/health"): lambda t: ({}, {}, None),
    ("POST", "/accesses"): lambda t: ({}, {}, [record(t)]),
    ("POST", "/accesses/materialize"): lambda t: ({}, {}, [record(t)]),
    ("POST", "/objects/{key:path}/move"): lambda t: ({"key": "obj"}, {"tenant": t}, {"target": "cold"}),
    ("GET", "/objects/{key:path}/content"): lambda t: ({"key": "obj"}, {"tenant": t}, None),
    ("GET", "/objects/{key:path}/location"): lambda t: ({"key": "obj"}, {"tenant": t}, None),
    ("GET", "/objects/{key:path}/history"): lambda t: ({"key": "obj"}, {"tenant": t}, None),
    ("GET", "/objects/{key:path}"): lambda t: ({"key": "obj"}, {"tenant": t}, None),
    ("GET", "/objects"): lambda t: ({}, {"tenant": t}, None),
    ("POST", "/imports"): lambda t: ({}, {}, {"bucket": "legacy", "tenant": t}),
    ("GET", "/movements"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/movements/{move_id}"): lambda t: ({"move_id": "m-1"}, {}, None),
    ("GET", "/metrics"): lambda t: ({}, {}, None),
    ("GET", "/metrics/history"): lambda t: ({}, {}, None),
    ("GET", "/metrics/prometheus"): lambda t: ({}, {}, None),
    ("POST", "/ml/retrain"): lambda t: ({}, {}, {"trace": "missing.txt", "format": "msr"}),
    ("GET", "/ml/jobs/{job_id}"): lambda t: ({"job_id": "j-1"}, {}, None),
    ("GET", "/ml/model"): lambda t: ({}, {}, None),
    ("GET", "/whatif/traces"): lambda t: ({}, {}, None),
    ("PUT", "/whatif/traces/{name}"): lambda t: ({"name": "t.csv"}, {}, None),
    ("POST", "/whatif"): lambda t: ({}, {}, {"trace": "missing.txt", "format": "msr"}),
    ("GET", "/policies"): lambda t: ({}, {}, None),
    ("PUT", "/policies"): lambda t: ({}, {}, {"tenants": {}}),
    ("GET", "/insights/tenants"): lambda t: ({}, {}, None),
    ("GET", "/insights/moves-per-hour"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/insights/top-objects"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/insights/overview"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/insights/cost-comparison"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/autopilot"): lambda t: ({}, {}, None),
    ("PUT", "/autopilot"): lambda t: ({}, {}, {"mode": "paused"}),
    ("POST", "/autopilot/run"): lambda t: ({}, {}, None),
    ("POST", "/autopilot/promote"): lambda t: ({}, {}, None),
    ("GET", "/decisions"): lambda t: ({}, {"tenant": t}, None),
    ("GET", "/decisions/{decision_id}"): lambda t: ({"decision_id": "d-1"}, {}, None),
    ("POST", "/decisions/{decision_id}/approve"): lambda t: ({"decision_id": "d-1"}, {}, None),
    ("POST", "/decisions/{decision_id}/reject"): lambda t: ({"decision_id": "d-1"}, {}, None),
    ("POST", "/keys"): lambda t: ({}, {}, {"name": "probe", "tenant": t, "role": "viewer"}),
    ("GET", "/keys"): lambda t: ({}, {}, None),
    ("DELETE", "/keys/{key_id}"): lambda t: ({"key_id": "000000000000"}, {}, None),
    ("GET", "/whoami"): lambda t: ({}, {}, None),
    ("GET", "/quotas"): lambda t: ({}, {"tenant": t}, None),
    ("POST", "/webhooks"): lambda t: ({}, {}, {"tenant": t, "url": "http://127.0.0.1:9/hook",
                                               "incidents": ["move.failed"]}),
    ("GET", "/webhooks"): lambda t: ({}, {}, None),
    ("DELETE", "/webhooks/{subscription_id}"): lambda t: ({"subscription_id": "nope"}, {}, None),
    ("GET", "/webhooks/deliveries"): lambda t: ({}, {}, None),
    ("POST", "/webhooks/deliveries/{delivery_id}/redeliver"): lambda t: ({"delivery_id": "nope"}, {}, None),
    ("GET", "/actions"): lambda t: ({}, {"tenant": t}, None),
}
# Routes whose sample names a tenant (query or body): the other tenant's is refused.
WRITES_NAMING_A_TENANT = {("POST", "/accesses"), ("POST", "/accesses/materialize"), ("POST", "/keys"),
                          ("POST", "/imports"), ("POST", "/webhooks")}


def routes(app):
    def walk(items):
        for r in items:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)
    return [r for r in walk(app.routes) if r.path not in DOCS]


def rule_of(route: APIRoute):
    def find(dependant):
        for sub in dependant.dependencies:
            if sub.call in RULES:
                return sub.call.rule
            found = find(sub)
            if found:
                return found
        return None
    return find(route.dependant)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("matrix"), shards=2)
    workers = [ShardWorker(i, settings) for i in range(2)]
    services = build_services(settings, LocalIngest(workers), job_runner=InProcessJobRunner())
    client = TestClient(create_app(services), raise_server_exceptions=False)
    keys = {(tenant, role): issue_key(services, tenant, role, f"{role}-{tenant}")
            for tenant in (OWN, ALL_TENANTS) for role in Role}
    admin = {"X-API-Key": keys[(ALL_TENANTS, Role.ADMIN)]}
    for tenant in (OWN, OTHER):
        assert client.post("/accesses", json=[{**record(tenant), "key": "obj"}], headers=admin).status_code == 200
    runner = ProjectionRunner(settings)
    runner.catch_up()
    yield client, services, keys, runner
    runner.close()
    services.close()
    for w in workers:
        w.close()


def fingerprint(services, runner) -> tuple:
    # The event store's head covers the stored settings (price policy, autopilot mode) too.
    return (services.health_checks["event_store"]()["head"],
            services.access.log.recorder.max_notification_id())


def call(client, route: APIRoute, tenant: str, headers: dict):
    method = sorted(route.methods)[0]
    params, query, body = SAMPLES[(method, route.path)](tenant)
    path = route.path.replace("{key:path}", "{key}").format(**params)
    kwargs = {"params": query, "headers": headers}
    if body is not None:
        kwargs["json"] = body
    elif method in ("PUT", "POST"):
        kwargs.update(content=b"x,y\n", headers={**headers, "content-type": "text/csv"}) \
            if route.path.startswith("/whatif/traces") else kwargs.update(json={})
    return client.request(method, path, **kwargs)


def test_every_route_has_an_access_rule_and_a_sample(stack):
    client = stack[0]
    found = {(sorted(r.methods)[0], r.path): rule_of(r) for r in routes(client.app)}
    assert [k for k, rule in found.items() if rule is None] == []
    assert sorted(set(found) - set(SAMPLES)) == [] and sorted(set(SAMPLES) - set(found)) == []


CALLERS = [None] + [(tenant, role) for tenant in (OWN, ALL_TENANTS) for role in Role]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: "no-key" if c is None else f"{c[1].value}-{c[0]}")
def test_each_route_answers_each_caller_as_its_rule_says(stack, caller):
    client, services, keys, runner = stack
    headers = {"Authorization": ""} if caller is None else {"X-API-Key": keys[caller]}
    wrong = []
    for route in routes(client.app):
        method = sorted(route.methods)[0]
        needed, estate = rule_of(route)
        params, query, body = SAMPLES[(method, route.path)](OWN)
        names_tenant = "tenant" in query or (method, route.path) in WRITES_NAMING_A_TENANT
        for tenant in (OWN, OTHER) if names_tenant else (OWN,):
            before = fingerprint(services, runner)
            got = call(client, route, tenant, headers)
            if caller is None:
                expected = {401}
            elif not caller[1].allows(needed) or (estate and caller[0] != ALL_TENANTS):
                expected = {403}
            elif tenant == OTHER and caller[0] != ALL_TENANTS:
                expected = {403, 404} if (method, route.path) in WRITES_NAMING_A_TENANT else {404}
            else:
                expected = None  # allowed: anything but a refusal of the caller
            if expected is None:
                # Let in; this stack has no object store or movers, and says so.
                not_running = got.status_code == 503 and "not running" in got.text
                ok = got.status_code not in (401, 403) and (got.status_code < 500 or not_running) and \
                    "unknown tenant" not in got.text
            else:
                ok = got.status_code in expected and fingerprint(services, runner) == before
            if not ok:
                wrong.append(f"{method} {route.path} tenant={tenant}: {got.status_code} {got.text[:120]}")
            assert "Traceback" not in got.text
    assert wrong == []


def test_another_tenants_object_does_not_exist_for_a_key(stack):
    client, services, keys, _ = stack
    viewer = {"X-API-Key": keys[(OWN, Role.VIEWER)]}
    mine = client.get("/objects/obj", params={"tenant": OWN}, headers=viewer)
    theirs = client.get("/objects/obj", params={"tenant": OTHER}, headers=viewer)
    assert mine.status_code == 200 and theirs.status_code == 404
    listed = client.get("/objects", headers=viewer).json()["items"]
    assert {r["tenant"] for r in listed} == {OWN}
    assert client.get("/insights/tenants", headers=viewer).json() == {"tenants": [OWN]}
