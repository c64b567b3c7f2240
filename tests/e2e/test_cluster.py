"""Ray clusters as users run them. A stack joins a two-node `ray start`
cluster when told to (PostgreSQL as its event store, a real Kafka as its
decision bus) while another stack on the same host runs its own Ray by
default; the two never mix. The second node's raylet is killed mid-replay:
the replay still finishes, every record counts once, every move ends
committed or aborted with its bytes where the log says, and the node, once
back, takes work again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from minio import Minio

from tests.support.launched import BIN, all_objects, http, stack_env
from tests.support.ray_nodes import RayNodes, probe
from tests.support.traces import IBM, expected_counts
from tiering.adapters.eventstore import open_object_logs
from tiering.adapters.objectstore import object_name
from tiering.config import Settings

pytestmark = pytest.mark.e2e
MOVED = [f"m/{i}" for i in range(24)]  # tenant "ops": bytes written, then moved to cold


@pytest.fixture
def nodes(tmp_path):
    # The second node's own data dir: what an actor there could read of its disk (nothing is needed).
    cluster = RayNodes(second_env={"TIERING_DATA_DIR": str(tmp_path / "second-node")})
    try:
        yield cluster
    finally:
        cluster.close()


def _launch(home: Path, env: dict) -> subprocess.Popen:
    home.mkdir()
    return subprocess.Popen([str(BIN / "tiering"), "launch"], env=env, cwd=home,
                            stdout=(home / "launch.log").open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_up(home: Path, url: str, proc: subprocess.Popen) -> dict:
    deadline = time.time() + 240
    while True:
        path = home / "var" / "admin.key"
        headers = {"Authorization": f"Bearer {path.read_text().strip()}"} if path.exists() else {}
        try:
            if headers and http.get(f"{url}/health", headers=headers, timeout=5).status_code == 200:
                return headers
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        assert proc.poll() is None and time.time() < deadline, (home / "launch.log").read_text()[-4000:]
        time.sleep(1)


def _stop(proc: subprocess.Popen, home: Path) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(60) == 0, (home / "launch.log").read_text()[-4000:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("launch did not stop within 60 s of Ctrl-C")


def _eventually(check, what, timeout_s: float = 90):
    deadline = time.time() + timeout_s
    while not (got := check()):
        assert time.time() < deadline, what() if callable(what) else what
        time.sleep(0.5)
    return got


def _health(url: str, headers: dict) -> dict:
    r = http.get(f"{url}/health", headers=headers, timeout=10)
    return r.json() if r.status_code == 200 else {}


def _placement(url: str, headers: dict) -> tuple[dict, dict]:
    """(shards per node, movers per node) as /health reports them."""
    checks = _health(url, headers).get("checks", {})
    return (checks.get("shards", {}).get("detail", {}).get("nodes", {}),
            checks.get("movement", {}).get("detail", {}).get("nodes", {}))


def _objects(url: str, headers: dict, tenant: str = "default") -> dict[str, dict]:
    http.headers.update(headers)
    out, cursor = {}, None
    while True:  # all_objects for one tenant
        params = {"limit": 1000, "tenant": tenant, "include_deleted": "true", **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{url}/objects", params=params, timeout=30).json()
        out.update({o["key"]: o for o in page["items"]})
        if not (cursor := page["next_cursor"]):
            return out


def _bytes_by_bucket(home: Path, settings: Settings) -> dict[str, dict[str, str]]:
    """{object name: {bucket: etag}} for every name in the stack's three tier buckets."""
    seaweed = home / "var" / "seaweed"
    ports, creds = (json.loads((seaweed / f).read_text()) for f in ("ports.json", "credentials.json"))
    s3 = Minio(f"127.0.0.1:{ports['s3']}", access_key=creds["access_key"], secret_key=creds["secret_key"],
               secure=False)
    found: dict[str, dict[str, str]] = {}
    for bucket in (settings.bucket_hot, settings.bucket_warm, settings.bucket_cold):
        for o in s3.list_objects(bucket, recursive=True):
            found.setdefault(o.object_name, {})[bucket] = o.etag
    return found


def test_two_nodes_a_lost_raylet_and_a_second_stack_beside_them(tmp_path, nodes, postgres_url):
    second_id = nodes.start_second()
    joined_home, default_home = tmp_path / "joined", tmp_path / "default"
    joined_env = {**stack_env(joined_home), "TIERING_RAY_ADDRESS": nodes.address, "TIERING_SHARDS": "4",
                  "TIERING_DATABASE_URL": postgres_url, "TIERING_DASHBOARD_PORT": "0",
                  "TIERING_RECONCILE_INTERVAL_S": "3"}  # the embedded Kafka broker: the default
    default_env = {**stack_env(default_home), "TIERING_EMBEDDED_KAFKA": "false", "TIERING_DASHBOARD_PORT": "0"}
    del default_env["TIERING_RAY_ADDRESS"]  # the default: a Ray of its own, whatever runs here
    joined, default = _launch(joined_home, joined_env), _launch(default_home, default_env)
    url = f"http://127.0.0.1:{joined_env['TIERING_API_PORT']}"
    default_url = f"http://127.0.0.1:{default_env['TIERING_API_PORT']}"
    replay = None
    try:
        key = _wait_up(joined_home, url, joined)
        default_key = _wait_up(default_home, default_url, default)
        joined_log = " ".join((joined_home / "launch.log").read_text().split())
        assert f"ray: joined {nodes.address}" in joined_log and "event store: postgresql" in joined_log
        assert "kafka decision bus" in joined_log, joined_log[-2000:]
        assert "ray: local" in (default_home / "launch.log").read_text()
        head_id = nodes.head_id()

        # Shards and movers on both nodes.
        shards, movers = _eventually(lambda: (p := _placement(url, key))[0] and p, "no placement in /health")
        assert shards == {head_id: 2, second_id: 2} and movers == {head_id: 1, second_id: 1}, (shards, movers)

        # Each stack sees its own objects alone.
        now = time.time()
        put = [{"ts": now, "tenant": "ops", "key": k, "op": "PUT", "size": 20_000} for k in MOVED]
        assert http.post(f"{url}/accesses/materialize", json=put, headers=key).status_code == 200
        mine = [{"ts": now, "tenant": "default", "key": f"d/{i}", "op": "PUT", "size": 1000} for i in range(30)]
        assert http.post(f"{default_url}/accesses", json=mine, headers=default_key).status_code == 200
        _eventually(lambda: set(_objects(url, key, "ops")) == set(MOVED), "the joined stack's objects")
        _eventually(lambda: set(all_objects_of(default_url, default_key)) == {f"d/{i}" for i in range(30)},
                    "the default stack's objects, and only those")
        namespaces = {a["namespace"] for a in probe(nodes.address, "named")}
        assert len(namespaces) == 1 and namespaces.pop().startswith("tiering-"), namespaces

        # Mid-replay: operator moves, then the second node's raylet dies.
        replay = subprocess.Popen(
            [str(BIN / "tiering"), "replay-trace", str(IBM), "--format", "ibm-cos"],
            env={**joined_env, "TIERING_API_URL": url, "TIERING_INGEST_BATCH_SIZE": "150"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=joined_home)
        _eventually(lambda: http.get(f"{url}/metrics", headers=key).json()["objects_total"] >= 300 or
                    replay.poll() is not None, "the replay never got going")
        assert replay.poll() is None, "the replay ended before the node was lost"
        for k in MOVED:
            r = http.post(f"{url}/objects/{k}/move", params={"tenant": "ops"}, json={"target": "cold"}, headers=key)
            assert r.status_code == 202, r.text
        nodes.kill_second_raylet()

        out, err = replay.communicate(timeout=600)
        assert replay.returncode == 0, err[-3000:]
        assert "10,000" in out and "0 bad lines" in out, out

        # The lost node's shards and mover are recreated on the head and read their logs back.
        _eventually(lambda: _placement(url, key) == ({head_id: 4}, {head_id: 2}),
                    lambda: f"placement after the loss: {_placement(url, key)}")
        expected = dict(expected_counts(IBM))
        _eventually(lambda: {k: o["accesses_total"] for k, o in _objects(url, key).items()} == expected,
                    "every acknowledged access in the log exactly once", timeout_s=120)

        # Every move ended committed or aborted, and the bytes are where the log says, only there.
        moved = _eventually(lambda: (m := _objects(url, key, "ops")) and all(o["move"] is None for o in m.values())
                            and m, "a move never ended", timeout_s=120)
        assert {o["tier"] for o in moved.values()} <= {"cold", "hot"}
        settings = Settings(data_dir=joined_home / "var")
        bucket = {"hot": settings.bucket_hot, "warm": settings.bucket_warm, "cold": settings.bucket_cold}
        stored = _bytes_by_bucket(joined_home, settings)
        for k, o in moved.items():
            assert set(stored.pop(object_name("ops", k))) == {bucket[o["tier"]]}, (k, o["tier"])
        assert stored == {}, f"bytes no object's log names: {sorted(stored)[:5]}"
        print("tiers after the loss:", {t: sum(o["tier"] == t for o in moved.values()) for t in ("hot", "cold")})

        # The node rejoins and takes its share of the next decision rounds.
        back = nodes.start_second()
        assert http.post(f"{url}/autopilot/run", headers=key).status_code == 200
        _eventually(lambda: probe(nodes.address, "choose_decisions", back) > 0 or
                    http.post(f"{url}/autopilot/run", headers=key).status_code != 200,
                    "no decision task ran on the node that came back", timeout_s=120)

        # Stopping the joined stack leaves the default one healthy, and none of its actors behind.
        _stop(joined, joined_home)
        after = [{"ts": now + 1, "tenant": "default", "key": "d/after", "op": "PUT", "size": 1}]
        assert http.post(f"{default_url}/accesses", json=after, headers=default_key).status_code == 200
        _eventually(lambda: "d/after" in all_objects_of(default_url, default_key), "the default stack goes on")
        assert http.get(f"{default_url}/health", headers=default_key).status_code == 200
        _eventually(lambda: probe(nodes.address, "named") == [], "the joined stack's actors outlived it")
        assert _instance(joined_env) != _instance(default_env)
    finally:
        if replay is not None and replay.poll() is None:
            replay.kill()
        _stop(joined, joined_home)
        _stop(default, default_home)


def all_objects_of(url: str, headers: dict) -> dict[str, dict]:
    http.headers.update(headers)
    return all_objects(url)


def _instance(env: dict) -> str:
    """The id the stack keeps in its event store."""
    settings = Settings(data_dir=Path(env["TIERING_DATA_DIR"]), database_url=env.get("TIERING_DATABASE_URL"))
    app = open_object_logs(settings.eventstore_env(), create_tables=False)
    try:
        return app.instance_id()
    finally:
        app.close()
