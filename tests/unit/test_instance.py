"""Each deployment has an id kept in its event store; its Ray namespace derives
from it, the default Ray is its own, and it refuses actors of another id."""

from __future__ import annotations

import pytest

from tiering.app import cluster
from tiering.config import Settings
from tiering.domain.instance import namespace_of
from tiering.domain.records import parse_batch
from tiering.projections.runner import ProjectionRunner
from tiering.shards.worker import open_store


def test_the_id_is_made_once_and_read_back_by_every_later_open(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = cluster.open_instance(settings)
    again = cluster.open_instance(settings)
    other = cluster.open_instance(Settings(data_dir=tmp_path / "elsewhere"))
    assert first.instance_id == again.instance_id != other.instance_id
    assert namespace_of(first.instance_id) == f"tiering-{first.instance_id}"
    with pytest.raises(ValueError):
        namespace_of("../other")


def test_the_projections_read_past_the_instance_record(tmp_path):
    settings = cluster.open_instance(Settings(data_dir=tmp_path))
    app = open_store(settings)
    app.ingest(parse_batch([{"ts": 1000, "key": "a", "op": "PUT", "size": 5}]), "b1")
    app.close()
    runner = ProjectionRunner(settings)
    while runner.run_once():
        pass
    assert runner.lag()[0] == runner.lag()[1]
    assert runner.db.fetchall("SELECT key FROM rm_objects") == [("a",)]


@pytest.mark.parametrize("address, expected", [(None, "local"), ("local", "local"),
                                               ("auto", "auto"), ("10.0.0.5:6379", "10.0.0.5:6379")])
def test_ray_is_joined_only_when_told(tmp_path, monkeypatch, address, expected):
    import ray

    calls = []
    monkeypatch.setenv("RAY_ADDRESS", "10.9.9.9:6379")  # Ray's own variable lures nothing
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(cluster, "ensure_auth_token", lambda: None)
    monkeypatch.setattr(cluster, "check_reachable", lambda address: None)
    settings = cluster.open_instance(Settings(data_dir=tmp_path, ray_address=address))
    cluster.connect(settings)
    assert calls[0]["address"] == expected
    assert calls[0]["namespace"] == f"tiering-{settings.instance_id}"


def test_an_actor_of_another_instance_is_refused(monkeypatch):
    import ray

    class Handle:
        def __init__(self, instance):
            self.instance = type("M", (), {"remote": staticmethod(lambda: instance)})

    monkeypatch.setattr(ray, "get", lambda refs: refs)
    settings = Settings(instance_id="0123456789abcdef")
    cluster.check_ours([Handle("0123456789abcdef")], settings)
    with pytest.raises(cluster.ForeignActor, match="fedcba9876543210"):
        cluster.check_ours([Handle("0123456789abcdef"), Handle("fedcba9876543210")], settings)


def test_an_address_where_nothing_listens_exits_2_at_once(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"TIERING_DATA_DIR": str(tmp_path / "var"), "TIERING_DASHBOARD_PORT": "0", "PATH": "/usr/bin:/bin",
           "HOME": str(Path.home())}
    from tiering.devstack._proc import free_ports

    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "tiering"), "launch", "--port", str(free_ports(1)[0]),
                           "--address", f"127.0.0.1:{port}"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    said = " ".join(done.stderr.split())
    assert "cannot join the Ray cluster" in said and f"127.0.0.1:{port}" in said
    assert "Traceback" not in done.stderr + done.stdout
    assert time.monotonic() - started < 60
