"""Signed incident webhooks, against a real HTTP receiver on loopback that
checks every signature, refuses replays, and fails on purpose."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from tests.support.api import authorized
from tiering.app.wiring import build_services
from tiering.config import Settings
from tiering.domain.records import AccessRecord, Op
from tiering.domain.webhooks import verify
from tiering.services.incidents import IncidentWatch
from tiering.shards.ingest import LocalIngest
from tiering.shards.steps import RecordContentMismatch
from tiering.shards.worker import ShardWorker
from tiering.web.app import create_app

pytestmark = pytest.mark.integration


class Receiver:
    """Accepts a delivery once: a bad or stale signature is 400, a delivery id
    seen before 409 (a replay); the first ``fail_first`` requests get 500."""

    def __init__(self, fail_first: int = 0):
        self.secret = ""
        self.fail_first = fail_first
        self.requests, self.accepted, self.seen = 0, [], set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests += 1
                if receiver.requests <= receiver.fail_first:
                    return self._answer(500)
                if not verify(receiver.secret, self.headers["x-tiering-signature"], body, time.time()):
                    return self._answer(400)
                delivery = self.headers["x-tiering-delivery"]
                if delivery in receiver.seen:
                    return self._answer(409)
                receiver.seen.add(delivery)
                receiver.accepted.append((self.headers["x-tiering-event"], json.loads(body)))
                self._answer(200)

            def _answer(self, status: int):
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def api(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", shards=2)
    workers = [ShardWorker(i, settings) for i in range(2)]
    services = build_services(settings, LocalIngest(workers))
    services.webhooks.first_s, services.webhooks.max_s = 0.05, 0.2  # quick retries for the test
    client = authorized(TestClient(create_app(services)))
    yield client, services, workers
    services.close()
    for w in workers:
        w.close()


def subscribe(client, receiver, tenant="acme", incidents=("quota.exceeded",)):
    r = client.post("/webhooks", json={"tenant": tenant, "url": receiver.url, "incidents": list(incidents)})
    assert r.status_code == 201, r.text
    receiver.secret = r.json()["secret"]
    assert "secret" not in json.dumps(client.get("/webhooks").json())
    return r.json()["id"]


def test_a_quota_incident_is_signed_retried_until_taken_and_logged(api):
    client, services, _ = api
    receiver = Receiver(fail_first=2)
    try:
        sub = subscribe(client, receiver)
        client.put("/policies", json={"quotas": {"tenants": {"acme": {"ingest_records_per_s": 1}}}})
        batch = [{"ts": 1, "tenant": "acme", "key": f"k{i}", "op": "GET"} for i in range(2)]
        assert client.post("/accesses", json=batch).status_code == 429
        services.webhooks.drain()
        assert [(kind, body["data"]["quota"]) for kind, body in receiver.accepted] == [
            ("quota.exceeded", "ingest_records_per_s")]
        [delivery] = client.get("/webhooks/deliveries", params={"subscription_id": sub}).json()["items"]
        assert delivery["outcome"] == "delivered"
        assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    finally:
        receiver.close()


def test_a_failed_delivery_is_redelivered_and_a_replay_is_refused(api):
    client, services, _ = api
    receiver = Receiver(fail_first=100)
    try:
        subscribe(client, receiver)
        services.webhooks.emit("acme", "quota.exceeded", {"quota": "objects", "limit": 1})
        services.webhooks.drain()
        [delivery] = client.get("/webhooks/deliveries").json()["items"]
        assert delivery["outcome"] == "failed" and len(delivery["attempts"]) == services.webhooks.attempts
        receiver.fail_first = 0
        assert client.post(f"/webhooks/deliveries/{delivery['id']}/redeliver").status_code == 202
        services.webhooks.drain()
        assert len(receiver.accepted) == 1
        assert client.post(f"/webhooks/deliveries/{delivery['id']}/redeliver").status_code == 202
        services.webhooks.drain()
        assert len(receiver.accepted) == 1  # the receiver saw that delivery id: a replay
        other = client.get("/webhooks/deliveries").json()["items"][0]
        assert other["attempts"][-1]["status"] == 409
        actions = [a["action"] for a in client.get("/actions").json()["items"]]
        assert actions.count("webhook.redeliver") == 2 and "webhook.subscribe" in actions
    finally:
        receiver.close()


def test_the_watch_tells_of_pending_decisions_and_failing_checks(api):
    client, services, workers = api
    receiver = Receiver()
    try:
        subscribe(client, receiver, "*", ("decision.pending", "health.degraded", "content.mismatch"))
        broken = {"flaky": lambda: 1 / 0, "fine": lambda: True}
        LocalIngest(workers).ingest([AccessRecord(1_700_000_000.0, "acme", "k", Op.PUT, 10)])
        watch = IncidentWatch(workers[0].app, services.webhooks, broken, None)
        worker = next(w for w in workers if w.get_object("acme", "k"))
        worker.app.command("acme", "k", lambda obj: obj.recommend(
            "cold", "ours@v1", 0.9, ["idle"], 1_700_000_000.0, decision_id="d-1",
            disposition="pending"))
        worker.app.command("acme", "k", lambda obj: obj.record_content("a" * 32, None))
        worker.run(RecordContentMismatch("acme", "k", "hot-b", "a" * 32, "b" * 32))
        assert watch.tick() == 3 and watch.tick() == 0  # each told once
        services.webhooks.drain()
        got = {kind: body for kind, body in receiver.accepted}
        assert got["content.mismatch"]["data"] == {"key": "k", "bucket": "hot-b", "expected": "a" * 32,
                                                   "found": "b" * 32}
        assert got["decision.pending"]["tenant"] == "acme" and got["decision.pending"]["data"]["key"] == "k"
        assert got["health.degraded"]["data"] == {"check": "flaky", "error": "ZeroDivisionError"}
    finally:
        receiver.close()
