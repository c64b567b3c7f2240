"""The decision loop on real Ray, SeaweedFS and the SQLite event store: rounds
on event time, dry runs while paused, pending decisions answered by an
operator, automatic moves, and the predictor pool scoring for a registered model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.api import authorized, issue_key
from tiering.shards.steps import EndMove

pytestmark = pytest.mark.integration
DAY = 86_400.0
T0 = 1_700_000_000.0
MIB = 2 ** 20


def _api(stack):
    from tiering.projections.queries import ReadModels
    from tiering.projections.runner import ProjectionRunner
    from tiering.shards.ingest import ShardIngest
    from tiering.web.app import create_app
    from tiering.web.deps import Services

    runner = ProjectionRunner(stack.settings)
    services = Services(settings=stack.settings, ingest_port=ShardIngest(stack.shards),
                        read_models=ReadModels.from_settings(stack.settings), **stack.runtime.use_cases())
    return authorized(TestClient(create_app(services))), runner


def _estate(stack):
    """Two objects idle since T0, one read on day 99; the clock is day 100."""
    stack.put({"idle-a": 4 * MIB, "idle-b": 4 * MIB, "busy": 4 * MIB}, ts=T0)
    from tiering.domain.records import AccessRecord, Op
    from tiering.shards.ingest import ShardIngest
    ShardIngest(stack.shards).ingest([AccessRecord(T0 + 99 * DAY, "acme", "busy", Op.GET, None),
                                    AccessRecord(T0 + 100 * DAY, "acme", "clock", Op.PUT, 0)])


def _kinds(stack, key):
    return [e["kind"] for e in stack.history(key)]


def _decisions(client, runner, **params):
    runner.catch_up()
    r = client.get("/decisions", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_paused_records_decisions_and_moves_nothing_then_approval_and_auto_move(stack):
    client, runner = _api(stack)
    _estate(stack)
    runner.catch_up()

    assert client.put("/autopilot", json={"mode": "sideways"}).status_code == 422
    assert client.put("/autopilot", json={"mode": "paused"}).json()["mode"] == "paused"
    first = client.post("/autopilot/run").json()
    assert first["event_time"] == T0 + 100 * DAY and first["published"] == 0
    assert first["decided"] == 2  # the idle pair; "busy" was read yesterday
    dry = _decisions(client, runner, status="dry")
    assert sorted(d["key"] for d in dry) == ["idle-a", "idle-b"]
    assert all(d["source"] == "hot" and d["target"] in ("warm", "cold") and d["reasons"] for d in dry)
    assert all(d["policy"] == "ours@rules" for d in dry)
    assert "TierRecommended" in _kinds(stack, "idle-a") and "MoveRequested" not in _kinds(stack, "idle-a")
    # said once: a second dry round adds no events
    before = len(_kinds(stack, "idle-a"))
    assert client.post("/autopilot/run").json()["decided"] == 0
    assert len(_kinds(stack, "idle-a")) == before
    assert client.get("/movements").json()["items"] == []

    client.put("/autopilot", json={"mode": "approval"})
    assert client.post("/autopilot/run").json()["decided"] == 2
    pending = {d["key"]: d for d in _decisions(client, runner, status="pending")}
    assert set(pending) == {"idle-a", "idle-b"}
    # The answer is recorded under the key that gave it, never a name in the body.
    alice = {"Authorization": "Bearer " + issue_key(client.app.state.services, "acme", "operator", "alice")}
    ok = client.post(f"/decisions/{pending['idle-a']['decision_id']}/approve", json={"by": "mallory"},
                     headers=alice)
    assert ok.status_code == 200 and ok.json()["move_id"] == pending["idle-a"]["decision_id"]
    answered = [e["data"] for e in stack.history("idle-a") if e["kind"] == "RecommendationResolved"]
    assert answered[-1]["by"].startswith("alice#") and "mallory" not in str(answered)
    no = client.post(f"/decisions/{pending['idle-b']['decision_id']}/reject")
    assert no.json()["status"] == "rejected"
    again = client.post(f"/decisions/{pending['idle-b']['decision_id']}/approve")
    # The rule broken inside the shard, in its own words: not Ray's remote traceback.
    assert again.status_code == 409 and again.json() == {"detail": again.json()["detail"]}
    assert again.json()["detail"].startswith("DecisionNotPending: ")
    for leak in ("Traceback", "RayTaskError", "pid=", "ip=", ".py", "\x1b["):
        assert leak not in again.text, again.text
    assert client.post("/decisions/no-such-decision/approve").status_code == 404
    target = pending["idle-a"]["target"]
    states = stack.wait_settled(["idle-a"], moved={"idle-a": target})
    assert stack.where("idle-a") == {stack.buckets.of(target): stack.where("idle-a")[stack.buckets.of(target)]}
    assert states["idle-a"]["tier"] == target
    assert stack.state("idle-b")["tier"] == "hot"
    requested = [e["data"] for e in stack.history("idle-a") if e["kind"] == "MoveRequested"]
    assert requested[-1]["by"].startswith("alice#")
    acts = client.get("/actions", params={"tenant": "acme"}).json()["items"]
    assert [(a["action"], a["by"][:6]) for a in acts if a["action"].startswith("decision.")] == [
        ("decision.approve", "alice#"), ("decision.reject", "tester")]
    kinds_b = _kinds(stack, "idle-b")
    assert "RecommendationResolved" in kinds_b and "MoveRequested" not in kinds_b
    statuses = {d["key"]: d["status"] for d in _decisions(client, runner)
                if d["decision_id"] in {p["decision_id"] for p in pending.values()}}
    assert statuses == {"idle-a": "approved", "idle-b": "rejected"}

    client.put("/autopilot", json={"mode": "auto"})
    auto = client.post("/autopilot/run").json()
    # idle-b, asked again now that moves are automatic
    assert auto["published"] == 1, (auto, _decisions(client, runner, status="published"))
    again = _decisions(client, runner, status="published", key="idle-b")
    assert len(again) == 1
    stack.wait_settled(["idle-b"], moved={"idle-b": again[0]["target"]})
    assert stack.state("busy")["tier"] == "hot"
    assert client.get("/autopilot").json()["rounds"] == 4


def test_an_operators_move_is_not_undone_within_the_hold(stack):
    """Two objects written today and moved to cold by an operator: the rules
    would bring them straight back (recent use), the hold in the policy file
    keeps them, and the decision says why; with no hold they go back."""
    client, runner = _api(stack)
    stack.put({"fresh-a": 4 * MIB, "fresh-b": 4 * MIB}, ts=T0)
    runner.catch_up()
    for key in ("fresh-a", "fresh-b"):
        r = client.post(f"/objects/{key}/move", params={"tenant": "acme"}, json={"target": "cold"})
        assert r.status_code == 202, r.text
    stack.wait_settled(["fresh-a", "fresh-b"], moved={"fresh-a": "cold", "fresh-b": "cold"})
    runner.catch_up()
    client.put("/autopilot", json={"mode": "auto"})

    held = client.post("/autopilot/run").json()
    assert (held["held"], held["published"]) == (2, 0), held
    rows = _decisions(client, runner, status="held")
    assert sorted(d["key"] for d in rows) == ["fresh-a", "fresh-b"]
    for d in rows:
        assert (d["source"], d["target"]) == ("cold", "hot")
        assert any(r.startswith("held: tester") and "moved it to cold" in r and "operator_hold_days" in r
                   for r in d["reasons"]), d["reasons"]
    assert {stack.state(k)["tier"] for k in ("fresh-a", "fresh-b")} == {"cold"}
    assert 'tiering_decisions{status="held"} 2.0' in client.get("/metrics/prometheus").text
    before = len(_kinds(stack, "fresh-a"))
    assert client.post("/autopilot/run").json()["held"] == 0  # said once
    assert len(_kinds(stack, "fresh-a")) == before

    # The hold is the policy file's: none, and the same round moves them back.
    assert client.put("/policies", json={"decisions": {"operator_hold_days": 0}}).status_code == 200
    assert client.put("/policies", json={"decisions": {"operator_hold_days": -1}}).status_code == 422
    back = client.post("/autopilot/run").json()
    assert (back["held"], back["published"]) == (0, 2), back
    stack.wait_settled(["fresh-a", "fresh-b"], moved={"fresh-a": "hot", "fresh-b": "hot"})


def test_a_registered_model_scores_on_the_predictor_pool(stack):
    from sklearn.ensemble import RandomForestClassifier

    from tiering.adapters.eventstore import open_object_logs
    from tiering.adapters.model_store import StoredModels
    from tiering.ml.features import FEATURES

    # a model that says "cold" for anything idle a week and "hot" otherwise
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 200, (400, len(FEATURES)))
    recency = FEATURES.index("recency_days")
    y = np.where(x[:, recency] > 7, 2, 0)
    clf = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    version = StoredModels(open_object_logs(stack.settings.eventstore_env())).save(clf, {
        "training_range": {"test": True}, "features": list(FEATURES), "holdout": {},
        "feature_importances": dict(zip(FEATURES, map(float, clf.feature_importances_)))})
    client, runner = _api(stack)
    _estate(stack)
    runner.catch_up()
    client.put("/autopilot", json={"mode": "paused"})
    out = client.post("/autopilot/run").json()
    assert out["policy"] == f"ours@{version}" and out["decided"] == 2
    assert client.get("/autopilot").json()["model_version"] == version
    for d in _decisions(client, runner, status="dry"):
        assert d["policy"] == f"ours@{version}"
        assert d["reasons"][0].startswith("model: cold with confidence")
        assert any(r.startswith("recency_days=") for r in d["reasons"])
        assert 0.5 < d["score"] <= 1.0
    # the pool is real Ray actors
    assert len(stack.runtime.autopilot.pool.handles) == stack.settings.predictors
    started = time.monotonic()
    assert client.post("/autopilot/run").json()["decided"] == 0  # same pool, nothing new to say
    assert time.monotonic() - started < 60


def test_price_overrides_reach_the_decisions(stack):
    """A prefix whose warm and cold storage cost more than hot is left hot."""
    client, runner = _api(stack)
    assert client.put("/policies", json={"prefixes": [{"prefix": "keep/", "warm": {"storage_gb_month": 1.0},
                                                       "cold": {"storage_gb_month": 1.0}}]}).status_code == 200
    stack.put({"keep/x": 4 * MIB, "idle-c": 4 * MIB}, ts=T0)
    from tiering.domain.records import AccessRecord, Op
    from tiering.shards.ingest import ShardIngest
    ShardIngest(stack.shards).ingest([AccessRecord(T0 + 100 * DAY, "acme", "clock", Op.PUT, 0)])
    runner.catch_up()
    client.put("/autopilot", json={"mode": "paused"})
    assert client.post("/autopilot/run").json()["decided"] == 1
    assert [d["key"] for d in _decisions(client, runner, status="dry")] == ["idle-c"]


def test_a_get_after_a_move_down_promotes_the_object_back_to_hot(stack):
    """Promotion on access: the sweep between rounds finds the object read
    since it went down, records why, and the movers bring its bytes back."""
    from tiering.domain.records import AccessRecord, Op
    from tiering.shards.ingest import ShardIngest

    client, runner = _api(stack)
    _estate(stack)
    runner.catch_up()
    client.put("/autopilot", json={"mode": "auto"})
    first = client.post("/autopilot/run").json()
    assert first["published"] == 2
    down = {d["key"]: d["target"] for d in _decisions(client, runner, status="published")}
    stack.wait_settled(["idle-a", "idle-b"], moved=down)
    content = stack.content("idle-a")

    # read idle-a whole, twice, after the move; only HEAD idle-b (a HEAD does
    # not promote). Two whole reads cost more in warm or cold than leaving
    # early does, so the promotion pays (ml.usage.promotion_pays)
    ShardIngest(stack.shards).ingest([
        AccessRecord(T0 + 100 * DAY + 3600, "acme", "idle-a", Op.GET, None),
        AccessRecord(T0 + 100 * DAY + 3660, "acme", "idle-a", Op.GET, None),
        AccessRecord(T0 + 100 * DAY + 3600, "acme", "idle-b", Op.HEAD, None)])
    runner.catch_up()
    swept = client.post("/autopilot/promote").json()
    assert (swept["decided"], swept["published"]) == (1, 1), swept
    up = _decisions(client, runner, status="published", key="idle-a")[0]
    assert (up["source"], up["target"]) == (down["idle-a"], "hot")
    assert up["reasons"][0].startswith("promoted on access: a GET/PUT/COPY at event time")
    states = stack.wait_settled(["idle-a"], moved={"idle-a": "hot"})
    assert states["idle-a"]["tier"] == "hot"
    assert list(stack.where("idle-a")) == [stack.buckets.of("hot")]
    assert stack.content("idle-a") == content
    assert stack.state("idle-b")["tier"] == down["idle-b"]
    # the same access promotes once, and a sweep does not look at idle-b again
    # until it is accessed again
    runner.catch_up()
    again = client.post("/autopilot/promote").json()
    assert (again["decided"], again["considered"]) == (0, 0), again
    assert client.get("/autopilot").json()["promotions"] == 1


def test_audit_at_an_event_time_shows_what_the_api_showed_then(stack):
    """One clock. Moves down by the autopilot, a promotion on access and an
    aborted move are stamped with the tenant's event time, so replaying the
    log up to event time T (``tiering audit --at T``) gives the state that
    ``GET /objects/{key}`` showed when the tenant's estate was at T. Another
    tenant's replay, far ahead in event time, ages none of these objects."""
    import io

    import ray
    from rich.console import Console

    from tiering.adapters.bus import Decision
    from tiering.adapters.eventstore import open_object_logs
    from tiering.app.admin import audit_object
    from tiering.domain.ids import shard_of
    from tiering.domain.records import AccessRecord, Op
    from tiering.shards.ingest import ShardIngest

    client, runner = _api(stack)
    shown: dict[float, dict] = {}  # event time -> GET /objects/idle-a once settled there

    def settled_at(t: float) -> None:
        runner.catch_up()
        assert client.get("/metrics").status_code == 200
        shown[t] = client.get("/objects/idle-a", params={"tenant": "acme"}).json()

    def ingest(*records) -> None:
        ShardIngest(stack.shards).ingest(list(records))

    _estate(stack)
    settled_at(T0 + 100 * DAY)
    # another tenant replays a trace 5,000 days ahead of acme
    stack.put({"far-ahead": MIB}, ts=T0 + 5000 * DAY, tenant="replay")
    runner.catch_up()
    client.put("/autopilot", json={"mode": "auto"})
    first = client.post("/autopilot/run").json()
    acme = {d["key"]: d for d in _decisions(client, runner, status="published", tenant="acme")}
    # decided on acme's clock: "busy" was read yesterday, not 4,900 days ago
    assert set(acme) == {"idle-a", "idle-b"}, (first, acme)
    assert {d["decided_at"] for d in acme.values()} == {T0 + 100 * DAY}
    stack.wait_settled(["idle-a", "idle-b"], moved={k: d["target"] for k, d in acme.items()})
    settled_at(T0 + 100 * DAY)
    assert shown[T0 + 100 * DAY]["tier"] == acme["idle-a"]["target"]

    # promotion on access
    ingest(AccessRecord(T0 + 100 * DAY + 3600, "acme", "idle-a", Op.GET, None),
           AccessRecord(T0 + 100 * DAY + 3660, "acme", "idle-a", Op.GET, None))
    runner.catch_up()
    assert client.post("/autopilot/promote").json()["published"] == 1
    stack.wait_settled(["idle-a"], moved={"idle-a": "hot"})
    settled_at(T0 + 100 * DAY + 3660)

    # a move requested a day later and aborted before its copy
    client.put("/autopilot", json={"mode": "paused"})
    ingest(AccessRecord(T0 + 101 * DAY, "acme", "busy", Op.GET, None))
    runner.catch_up()
    now = client.get("/objects/busy", params={"tenant": "acme"}).json()["last_access_at"]
    assert now == T0 + 101 * DAY
    move = Decision.for_object(stack.state("idle-a"), "cold", "audit test", "operator", now)
    assert stack.runtime.call(stack.runtime.record_request(move))["outcome"] == "requested"
    shard = stack.shards[shard_of("acme", "idle-a", len(stack.shards))]
    ended = ray.get(shard.run.remote(EndMove("acme", "idle-a", move.move_id, "cold", "abort",
                                             "aborted by the test")))
    assert ended["outcome"] == "aborted"
    settled_at(T0 + 101 * DAY)
    ingest(AccessRecord(T0 + 102 * DAY, "acme", "idle-a", Op.GET, None))
    settled_at(T0 + 102 * DAY)

    # every stamped step is in acme's event time, in log order
    log = stack.history("idle-a")
    kinds = [e["kind"] for e in log]
    assert kinds.count("MoveRequested") == 3 and kinds.count("MoveAborted") == 1
    ats = [e["at"] for e in log]
    assert ats == sorted(ats) and max(ats) == T0 + 102 * DAY

    app = open_object_logs(stack.settings.eventstore_env())
    try:
        for t, api in shown.items():
            state = app.state_at("acme", "idle-a", t)
            assert (state.version, state.tier.value, state.accesses_total, state.size,
                    state.last_access_at) == (api["version"], api["tier"], api["accesses_total"],
                                              api["size"], api["last_access_at"]), t
            out = io.StringIO()
            assert audit_object(stack.settings, "acme", "idle-a", t, None,
                                Console(file=out, width=400))
            assert (f"(version {api['version']}): tier={api['tier']} size={api['size']} "
                    f"accesses={api['accesses_total']}") in out.getvalue()
    finally:
        app.close()
    # the replayed tenant's object stays where it was put, undisturbed
    assert stack.state("far-ahead", tenant="replay")["tier"] == "hot"
