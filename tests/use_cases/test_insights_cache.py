"""The top-objects cache answers at once, stale if need be, and refreshes in the background."""

import threading
import time

from tiering.services.insights import StaleWhileRevalidate


def test_the_top_objects_cache_answers_stale_and_refreshes_in_the_background():
    cache, calls, release = StaleWhileRevalidate(ttl_s=0.3), [], threading.Event()

    def compute():
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)  # a slow recomputation
        return len(calls)

    assert cache.get(("k",), compute) == 1  # computed on the first request
    assert cache.get(("k",), compute) == 1 and len(calls) == 1  # fresh: cached
    time.sleep(0.35)
    assert cache.get(("k",), compute) == 1  # stale: answered at once...
    assert cache.get(("k",), compute) == 1 and len(calls) == 2  # ...one recomputation only
    release.set()
    deadline = time.time() + 5
    while cache.get(("k",), compute) != 2 and time.time() < deadline:
        time.sleep(0.01)
    assert cache.get(("k",), compute) == 2
