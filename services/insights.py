"""The dashboard's aggregates beyond /metrics: moves per hour, top objects,
cost against always-hot and S3 Intelligent-Tiering, tenants."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from tiering.projections.insights import Insights

# Top objects sums the hour buckets of every object accessed within a week,
# which grows with the estate; every open dashboard asks for it on each
# refresh. So it is served from a cache: the first request computes it, later
# ones get the cached answer at once, and one that finds it older than the TTL
# starts a recomputation in the background (stale-while-revalidate).
TOP_OBJECTS_TTL_S = 15.0


class StaleWhileRevalidate:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, Any]] = {}
        self._running: set[tuple] = set()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._entries.get(key)
            stale = hit is not None and self.clock() - hit[0] >= self.ttl_s
            start = stale and key not in self._running
            if start:
                self._running.add(key)
        if hit is None:
            return self._store(key, compute())
        if start:
            threading.Thread(target=self._recompute, args=(key, compute), daemon=True,
                             name="insights-cache").start()
        return hit[1]

    def _store(self, key: tuple, value: Any) -> Any:
        with self._lock:
            if len(self._entries) > 256:  # one entry per (tenant, hours, limit) asked for
                self._entries.clear()
            self._entries[key] = (self.clock(), value)
        return value

    def _recompute(self, key: tuple, compute: Callable[[], Any]) -> None:
        try:
            self._store(key, compute())
        except Exception:  # noqa: BLE001 - the stale answer stays; the next request retries
            pass
        finally:
            with self._lock:
                self._running.discard(key)


class EstateInsights:
    def __init__(self, read_models: Any):
        self.read_models = read_models
        self.insights = Insights(read_models)
        self._top = StaleWhileRevalidate(TOP_OBJECTS_TTL_S)

    def tenants(self) -> list[str]:
        return self.insights.tenants()

    def moves_per_hour(self, hours: int, tenant: str | None) -> dict[str, Any]:
        return self.insights.moves_per_hour(hours=hours, tenant=tenant)

    def top_objects(self, hours: int, limit: int, tenant: str | None) -> dict[str, Any]:
        return self._top.get((tenant, hours, limit),
                             lambda: self.insights.top_objects(hours=hours, limit=limit, tenant=tenant))

    def overview(self, tenant: str | None) -> dict[str, Any]:
        metrics = self.read_models.metrics(tenant)
        return {"metrics": metrics, "cost": self.insights.cost_comparison(tenant=tenant, metrics=metrics)}

    def cost_comparison(self, tenant: str | None) -> dict[str, Any]:
        return self.insights.cost_comparison(tenant=tenant)
