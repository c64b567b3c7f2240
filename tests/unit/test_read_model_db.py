"""ReadModelDB.close() while another thread is mid-statement.

Closing a SQLite connection under a running statement crashes the process
(a CI run died this way: a training job was reading when the API shut down).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from tiering.projections.db import ReadModelDB

SLOW_COUNT = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
              "SELECT count(*) FROM n")


def test_close_waits_for_a_statement_running_on_another_thread(tmp_path):
    db = ReadModelDB("sqlite", {"path": str(tmp_path / "rm.sqlite")})
    db.execute("CREATE TABLE t (x INTEGER)")
    result: dict[str, object] = {}

    def reader() -> None:
        try:
            result["count"] = db.fetchone(SLOW_COUNT, (2_000_000,))[0]
        except Exception as e:  # noqa: BLE001 - the assertion below reports it
            result["error"] = e

    worker = threading.Thread(target=reader)
    worker.start()
    deadline = time.monotonic() + 10
    while db._in_flight == 0:  # until the reader's statement is running
        assert time.monotonic() < deadline, "the reader never started its statement"
        time.sleep(0.001)
    db.close()
    worker.join(30)
    assert result == {"count": 2_000_000}


CLOSE_UNDER_READERS = """
import sys, threading, time
from tiering.projections.db import ReadModelDB
db = ReadModelDB("sqlite", {"path": sys.argv[1]})
db.execute("CREATE TABLE t (x INTEGER)")
stop = False
def read():
    while not stop:
        db.fetchall("SELECT x FROM t LIMIT 5")
readers = [threading.Thread(target=read) for _ in range(4)]
for r in readers:
    r.start()
until = time.monotonic() + 2
while time.monotonic() < until:
    db.close()
    time.sleep(0.001)
stop = True
for r in readers:
    r.join()
print("survived")
"""


def test_closing_again_and_again_under_busy_readers_never_crashes(tmp_path):
    # In a child process: before the fix this died with SIGSEGV within a second.
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", CLOSE_UNDER_READERS, str(tmp_path / "rm.sqlite")],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout.strip()) == (0, "survived"), run.stderr[-2000:]


def test_the_db_reopens_after_close(tmp_path):
    db = ReadModelDB("sqlite", {"path": str(tmp_path / "rm.sqlite")})
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.transaction():
        db.execute("INSERT INTO t VALUES (?)", (1,))
    db.close()
    assert db.fetchall("SELECT x FROM t") == [(1,)]
    db.close()
