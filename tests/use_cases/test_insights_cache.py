"""The top-objects cache answers at once, stale if need be, and refreshes in the background."""

import threading
import time

from tiering.services.insights import StaleWhileRevalidate


def test_the_top_objects_cache_answers_stale_and_refreshes_in_the_background():
    now = [0.0]
    cache, calls, release = StaleWhileRevalidate(ttl_s=0.3, clock=lambda: now[0]), [], threading.Event()

    def compute():
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)  # a slow recomputation
        return len(calls)

    assert cache.get(("k",), compute) == 1  # computed on the first request
    assert cache.get(("k",), compute) == 1 and len(calls) == 1  # fresh: cached
    now[0] += 0.35  # the entry's time to live has passed
    assert cache.get(("k",), compute) == 1  # stale: answered at once...
    assert cache.get(("k",), compute) == 1  # ...and again while it recomputes
    until(lambda: len(calls) == 2)
    release.set()
    until(lambda: cache.get(("k",), compute) == 2)
    assert len(calls) == 2  # one recomputation only


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
