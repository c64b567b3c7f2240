"""Two stacks on one host never mix: one joins a `ray start --head` cluster
when told to, the other starts its own Ray by default, and each keeps to its
own instance's namespace and store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.support.launched import BIN, all_objects, free_port, http, stack_env
from tiering.adapters.eventstore import open_object_logs
from tiering.app.cluster import ensure_auth_token
from tiering.config import Settings

pytestmark = pytest.mark.e2e

# Run in a child: a driver of the head cluster that names every named actor.
_LIST_NAMED = ("import json, sys, ray; ray.init(address=sys.argv[1], namespace='probe', "
               "log_to_driver=False); print(json.dumps(ray.util.list_named_actors(all_namespaces=True)))")


def named_actors(address: str) -> list[dict]:
    done = subprocess.run([str(BIN / "python"), "-c", _LIST_NAMED, address], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "RAY_AUTH_MODE": "token"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def ray_head():
    """A `ray start --head` cluster of this test's own: its own temp dir and ports
    (never Ray's defaults, which another stack on this host may hold)."""
    ensure_auth_token()
    temp = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))  # Ray's socket paths must stay short
    gcs = free_port()
    client = free_port(gcs)
    agent = free_port(gcs, client)
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", f"--temp-dir={temp}",
         "--num-cpus=2", "--object-store-memory=150000000", "--include-dashboard=false",
         f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
         "--disable-usage-stats"],
        env={**os.environ, "RAY_AUTH_MODE": "token"}, stdout=(temp / "head.log").open("w"),
        stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{gcs}"
    try:
        named_actors(address)  # a driver can join: the head is up
        yield address
    finally:
        family = [head, *psutil.Process(head.pid).children(recursive=True)]
        head.send_signal(signal.SIGTERM)  # --block stops the node's processes
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            pass
        for p in family:  # whatever outlived it, ours alone: never `ray stop`
            try:
                p.kill()
            except (psutil.NoSuchProcess, ProcessLookupError):
                pass
        shutil.rmtree(temp, ignore_errors=True)


def _launch(home: Path, env: dict) -> subprocess.Popen:
    home.mkdir()
    return subprocess.Popen([str(BIN / "tiering"), "launch"], env=env, cwd=home,
                            stdout=(home / "launch.log").open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _key(home: Path) -> dict:
    path = home / "var" / "admin.key"
    return {"Authorization": f"Bearer {path.read_text().strip()}"} if path.exists() else {}


def _wait_up(home: Path, url: str, proc: subprocess.Popen) -> dict:
    deadline = time.time() + 240
    while True:
        headers = _key(home)
        try:
            if headers and http.get(f"{url}/health", headers=headers, timeout=5).status_code == 200:
                return headers
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        assert proc.poll() is None and time.time() < deadline, (home / "launch.log").read_text()[-4000:]
        time.sleep(1)


def _instance(home: Path) -> str:
    """The id the stack keeps in its event store."""
    app = open_object_logs(Settings(data_dir=home / "var").eventstore_env(), create_tables=False)
    try:
        return app.instance_id()
    finally:
        app.close()


def _stop(proc: subprocess.Popen, home: Path) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(60) == 0, (home / "launch.log").read_text()[-4000:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("launch did not stop within 60 s of Ctrl-C")


def _post(url: str, headers: dict, keys: list[str], ts: float) -> None:
    records = [{"ts": ts, "tenant": "default", "key": k, "op": "PUT", "size": 1000} for k in keys]
    r = http.post(f"{url}/accesses", json=records, headers=headers, timeout=60)
    assert r.status_code == 200, r.text


def _objects(url: str, headers: dict) -> set[str]:
    http.headers.update(headers)
    return set(all_objects(url))


def _eventually(check, what: str, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.5)


def test_a_joined_stack_and_a_default_stack_run_side_by_side_without_mixing(tmp_path, ray_head):
    # The in-process decision bus: what is under test is Ray, and two brokers cost a minute.
    joined_env = {**stack_env(tmp_path / "joined"), "TIERING_RAY_ADDRESS": ray_head,
                  "TIERING_EMBEDDED_KAFKA": "false"}
    default_env = {**stack_env(tmp_path / "default"), "TIERING_EMBEDDED_KAFKA": "false"}
    del default_env["TIERING_RAY_ADDRESS"]  # the default: a Ray of its own, whatever runs here
    joined_home, default_home = tmp_path / "joined", tmp_path / "default"
    joined = _launch(joined_home, joined_env)
    default = _launch(default_home, default_env)
    joined_url = f"http://127.0.0.1:{joined_env['TIERING_API_PORT']}"
    default_url = f"http://127.0.0.1:{default_env['TIERING_API_PORT']}"
    try:
        joined_key = _wait_up(joined_home, joined_url, joined)
        default_key = _wait_up(default_home, default_url, default)
        assert "ray: local" in (default_home / "launch.log").read_text()
        assert f"ray: joined {ray_head}" in (joined_home / "launch.log").read_text()
        ids = _instance(joined_home), _instance(default_home)
        assert ids[0] != ids[1]

        now = time.time()
        _post(joined_url, joined_key, [f"j/{i}" for i in range(20)], now)
        _post(default_url, default_key, [f"d/{i}" for i in range(30)], now)
        _eventually(lambda: _objects(joined_url, joined_key) == {f"j/{i}" for i in range(20)},
                    "the joined stack's objects, and only those")
        _eventually(lambda: _objects(default_url, default_key) == {f"d/{i}" for i in range(30)},
                    "the default stack's objects, and only those")

        # The head cluster holds the joined stack's actors, in its namespace alone.
        namespaces = {a["namespace"] for a in named_actors(ray_head)}
        assert namespaces == {f"tiering-{ids[0]}"}, namespaces
        assert f"instance {ids[0]}" in " ".join((joined_home / "launch.log").read_text().split())

        _stop(joined, joined_home)
        _post(default_url, default_key, ["d/after"], now + 1)
        _eventually(lambda: "d/after" in _objects(default_url, default_key), "the default stack goes on")
        assert http.get(f"{default_url}/health", headers=default_key).status_code == 200
        _eventually(lambda: named_actors(ray_head) == [], "the joined stack's actors outlived it")
    finally:
        _stop(joined, joined_home)
        _stop(default, default_home)
