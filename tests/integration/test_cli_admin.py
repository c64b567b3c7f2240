"""`tiering projections rebuild` and `tiering audit` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiering.domain.records import parse_batch
from tiering.projections.queries import ReadModels
from tiering.projections.runner import ProjectionRunner
from tiering.shards.ingest import LocalIngest
from tiering.shards.worker import ShardWorker

pytestmark = pytest.mark.integration
TIERING = str(Path(sys.executable).parent / "tiering")


def cli(settings, *args):
    env = {**os.environ, "TIERING_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["TIERING_DATABASE_URL"] = settings.database_url
    return subprocess.run([TIERING, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def populated(store_settings):
    workers = [ShardWorker(i, store_settings) for i in range(2)]
    ingest = LocalIngest(workers)
    ingest.ingest(parse_batch([{"ts": 1767225600 + i, "key": f"k{i % 40}", "op": "PUT" if i < 40 else "GET",
                                "size": 100 + i} for i in range(400)]))
    workers[0].app.command("default", "k0", lambda o: o.request_move("m1", "warm", "test", 1767230000.0))
    ingest.ingest(parse_batch([{"ts": 1767240000, "key": "k1", "op": "DELETE"}]))
    runner = ProjectionRunner(store_settings)
    runner.catch_up()
    yield store_settings, runner
    runner.close()
    for w in workers:
        w.close()


def test_rebuild_from_the_cli_gives_identical_read_models(populated):
    settings, runner = populated
    before = ReadModels.from_settings(settings).dump()
    assert any(before.values())
    r = cli(settings, "projections", "rebuild")
    assert r.returncode == 0, r.stderr
    assert "rebuilt read models" in r.stdout + r.stderr
    after = ReadModels.from_settings(settings).dump()
    assert after == before


def test_rebuild_refuses_while_a_stack_runs_on_the_data_dir_unless_forced(populated):
    from tiering.app.stack_lock import StackLock, StackRunning

    settings, _ = populated
    before = ReadModels.from_settings(settings).dump()
    lock = StackLock(settings.data_dir).acquire()  # as tiering launch holds it
    try:
        with pytest.raises(StackRunning, match=f"pid {os.getpid()}"):
            StackLock(settings.data_dir).acquire()  # a second launch is refused too
        r = cli(settings, "projections", "rebuild")
        assert r.returncode == 2 and "is running" in r.stderr and "--force" in r.stderr
        assert ReadModels.from_settings(settings).dump() == before
        forced = cli(settings, "projections", "rebuild", "--force")
        assert forced.returncode == 0, forced.stderr
    finally:
        lock.release()
    assert cli(settings, "projections", "rebuild").returncode == 0  # released: allowed again


def test_audit_shows_the_log_and_the_state_as_of_a_time(populated):
    settings, _ = populated
    r = cli(settings, "audit", "k0", "--at", "2026-01-01T00:00:30Z")
    assert r.returncode == 0, r.stderr
    assert "Registered" in r.stdout and "MoveRequested" in r.stdout
    # Registered at +0 s; the batch's folded window closes at its last access
    # (+399 s), so as of +30 s the log holds only the registration.
    assert "(version 1)" in r.stdout and "accesses=0 " in r.stdout
    later = cli(settings, "audit", "k0", "--at", "2026-01-02T00:00:00Z")
    assert "accesses=10 " in later.stdout and '"step": "requested"' in later.stdout
    deleted = cli(settings, "audit", "k1")
    assert deleted.returncode == 0 and "Deleted" in deleted.stdout
