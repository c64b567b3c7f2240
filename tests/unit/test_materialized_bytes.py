"""A batch's object-store writes run together; all of them end before the call does."""

from __future__ import annotations

import threading
import time

import pytest

from tiering.shards.materialized_bytes import run_all


def test_every_write_runs_and_they_overlap():
    done, inside, most = [], [0], [0]
    lock = threading.Lock()

    def write(i):
        def go():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
                done.append(i)
        return go

    run_all([write(i) for i in range(8)])
    assert sorted(done) == list(range(8)) and most[0] > 1


def test_a_failure_is_raised_after_the_other_writes_have_ended():
    done = []

    def ok(i):
        def go():
            time.sleep(0.05)
            done.append(i)
        return go

    def broken():
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError, match="store down"):
        run_all([broken, ok(1), ok(2)])
    assert sorted(done) == [1, 2]
