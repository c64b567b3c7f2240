"""`tiering launch` as a subprocess; replay the IBM COS trace; read it back over REST."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx
import psutil
import pytest

from tests.support.launched import BIN, all_objects, free_port, http, stack_env, start_stack
from tests.support.traces import TRACES, expected_counts

pytestmark = pytest.mark.e2e
IBM = TRACES / "ibm-cos-000-part0.txt"


@pytest.fixture
def launched(tmp_path):
    env = stack_env(tmp_path)
    proc = start_stack(tmp_path, env)
    url = f"http://127.0.0.1:{env['TIERING_API_PORT']}"
    yield url, env, tmp_path, proc
    if proc.poll() is not None:  # the test stopped it itself
        return
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("launch did not shut down within 60 s of Ctrl-C")
    assert code == 0, (tmp_path / "launch.log").read_text()[-4000:]


def test_replayed_trace_is_visible_over_rest_with_independent_counts(launched):
    url, env, tmp, _ = launched
    replay = subprocess.run([str(BIN / "tiering"), "replay-trace", str(IBM), "--format", "ibm-cos"],
                            env={**env, "TIERING_API_URL": url}, capture_output=True, text=True,
                            timeout=600, cwd=tmp)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert "10,000" in replay.stdout and "0 bad lines" in replay.stdout
    # Auth is on from the first start: the replay used the admin key launch wrote.
    assert httpx.get(f"{url}/objects", timeout=10).status_code == 401
    assert http.get(f"{url}/whoami").json()["role"] == "admin"
    made = subprocess.run([str(BIN / "tiering"), "keys", "create", "--name", "ops", "--tenant", "other",
                           "--role", "viewer"], env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    viewer = {"X-API-Key": made.stdout.split()[-1]}
    assert httpx.get(f"{url}/objects", headers=viewer, timeout=10).json()["items"] == []
    expected = expected_counts(IBM)
    deadline = time.time() + 120
    while True:
        objects = all_objects(url)
        got = {k: o["accesses_total"] for k, o in objects.items()}
        if got == dict(expected) or time.time() > deadline:
            break
        time.sleep(1)
    assert len(objects) == len(expected) == 1511
    assert got == dict(expected)
    deleted = {k for k, o in objects.items() if o["deleted_at"] is not None}
    assert len(deleted) == 2
    metrics = http.get(f"{url}/metrics", timeout=10).json()
    assert metrics["objects_total"] == 1511 - len(deleted)
    health = http.get(f"{url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["checks"]["shards"]["detail"]["alive"] == 2
    # what the stack wrote under its data dir is its user's alone
    var = tmp / "var"
    assert var.stat().st_mode & 0o777 == 0o700
    open_to_others = [str(p) for p in var.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert open_to_others == []
    # A second stack on the same data dir is refused before it starts anything.
    api = free_port(int(env["TIERING_API_PORT"]), int(env["TIERING_DASHBOARD_PORT"]))
    second = subprocess.run([str(BIN / "tiering"), "launch"], capture_output=True, text=True, timeout=60,
                            env={**env, "TIERING_API_PORT": str(api), "TIERING_DASHBOARD_PORT": "0"})
    assert second.returncode == 2 and "is running on" in second.stderr, second.stderr[-2000:]


def test_a_replay_through_a_stack_killed_and_launched_again_counts_each_record_once(tmp_path):
    """The launch's whole process group is frozen (SIGSTOP: requests pile up) and then
    killed (SIGKILL) mid-replay; the replay's own retries (same Idempotency-Key per
    batch) carry it over the restart: every record counts once. (A plain SIGKILL is
    the same run without the freeze; ``bench``-style repetitions belong outside CI.)"""
    env = stack_env(tmp_path)
    url = f"http://127.0.0.1:{env['TIERING_API_PORT']}"
    proc = start_stack(tmp_path, env)
    replay = subprocess.Popen([str(BIN / "tiering"), "replay-trace", str(IBM), "--format", "ibm-cos"],
                              env={**env, "TIERING_API_URL": url, "TIERING_INGEST_BATCH_SIZE": "150"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while http.get(f"{url}/metrics", timeout=10).json()["objects_total"] < 100:  # some batches in
            assert replay.poll() is None and time.time() < deadline, "the replay ended before the kill"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGSTOP)
        time.sleep(2)  # requests pile up against a frozen server
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert replay.poll() is None, "the replay gave up instead of retrying"
        proc = start_stack(tmp_path, env, "launch-again.log")
        out, err = replay.communicate(timeout=600)
        assert replay.returncode == 0, err[-3000:]
        expected = expected_counts(IBM)
        deadline = time.time() + 120
        while (got := {k: o["accesses_total"] for k, o in all_objects(url).items()}) != dict(expected):
            assert time.time() < deadline, (len(got), sum(got.values()), sum(expected.values()))
            time.sleep(1)
    finally:
        if replay.poll() is None:
            replay.kill()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_during_a_retrain_stops_everything_within_15_s(launched):
    """SIGINT once printed "stopped" and then hung for minutes behind a running retrain."""
    url, env, tmp, proc = launched
    traces = tmp / "var" / "traces"
    traces.mkdir(exist_ok=True)
    (traces / "ibm.txt").write_bytes(IBM.read_bytes())
    job = http.post(f"{url}/ml/retrain", json={"trace": "ibm.txt", "format": "ibm-cos"}, timeout=30)
    assert job.status_code == 202, job.text
    job_url = f"{url}/ml/jobs/{job.json()['job_id']}"
    deadline = time.time() + 60
    while http.get(job_url, timeout=10).json()["status"] != "running":
        assert time.time() < deadline, "the retrain never started"
        time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running 15 s after Ctrl-C:\n{(tmp / 'launch.log').read_text()[-3000:]}") from None
    assert code == 0, (tmp / "launch.log").read_text()[-3000:]
    print(f"stopped in {time.monotonic() - started:.1f} s")
    # Nothing it started outlives it: no process still names its data dir.
    var = str(tmp / "var")
    deadline = time.time() + 10
    while left := [p.info["pid"] for p in psutil.process_iter(["pid", "cmdline"])
                   if any(var in part for part in (p.info["cmdline"] or []))]:
        assert time.time() < deadline, f"processes left on {var}: {left}"
        time.sleep(0.2)


def test_cli_errors_exit_2_with_a_message(tmp_path):
    env = {**os.environ, "TIERING_DATA_DIR": str(tmp_path / "var")}
    cases = [
        ["replay-trace", str(IBM), "--format", "nope"],
        ["replay-trace", str(tmp_path / "missing.txt"), "--format", "ibm-cos"],
        ["replay-trace", str(IBM), "--format", "csv"],
        ["replay-trace", str(IBM), "--format", "csv", "--mapping", "ts"],
        ["replay-trace", str(IBM), "--format", "ibm-cos", "--time-scale", "0"],
        ["audit", "no-such-key"],
        ["audit", "k", "--at", "not-a-time"],
    ]
    for args in cases:
        r = subprocess.run([str(BIN / "tiering"), *args], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "error" in r.stderr.lower(), (args, r.stderr)
    assert subprocess.run([str(BIN / "tiering"), "--help"], capture_output=True).returncode == 0


@pytest.mark.parametrize("taken, setting", [("api", "TIERING_API_PORT"),
                                            ("dashboard", "TIERING_DASHBOARD_PORT")])
def test_launch_on_a_taken_port_exits_2_before_starting_anything(tmp_path, taken, setting):
    api_port = free_port()
    dash_port = free_port(api_port)
    port = api_port if taken == "api" else dash_port
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        env = {**os.environ, "TIERING_DATA_DIR": str(tmp_path / "var"), "RAY_AUTH_MODE": "token",
               "TIERING_API_PORT": str(api_port), "TIERING_DASHBOARD_PORT": str(dash_port),
               "TIERING_RAY_ADDRESS": "local"}
        r = subprocess.run([str(BIN / "tiering"), "launch"], env=env, capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr[-3000:])
    message = " ".join(r.stderr.split())  # rich wraps long lines
    assert f"{taken.replace('api', 'API')} port: 127.0.0.1:{port} is taken" in message, message
    assert setting in message, message
    # Nothing started and nothing written: no data dir, so no SeaweedFS, event store or Ray.
    assert not (tmp_path / "var").exists()
    assert "tiering is up" not in r.stdout + r.stderr


def test_launch_refuses_one_port_for_both_servers(tmp_path):
    port = free_port()
    env = {**os.environ, "TIERING_DATA_DIR": str(tmp_path / "var"), "TIERING_API_PORT": str(port),
           "TIERING_DASHBOARD_PORT": str(port)}
    r = subprocess.run([str(BIN / "tiering"), "launch"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr[-3000:])
    assert f"dashboard_port {port} is the API's port" in " ".join(r.stderr.split())
    assert not (tmp_path / "var").exists()
