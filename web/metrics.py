"""Operational counters for Prometheus, on a registry per app instance."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

log = logging.getLogger(__name__)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter("tiering_ingest_records_total", "Access records by outcome",
                               ["outcome"], registry=self.registry)
        self.batches = Counter("tiering_ingest_batches_total", "Ingest batches by outcome",
                               ["outcome"], registry=self.registry)
        self.events = Counter("tiering_ingest_events_total", "Events written by ingest",
                              registry=self.registry)
        self.requests = Histogram("tiering_http_request_seconds", "HTTP request latency",
                                  ["method", "route", "status"], registry=self.registry)
        self.projection_lag = Gauge("tiering_projection_lag_events",
                                    "Events recorded but not yet projected", registry=self.registry)
        self.quarantined = Gauge("tiering_projection_quarantined_events",
                                 "Events the projector could not apply, set aside", registry=self.registry)
        # From the read models at each scrape: what the estate's logs say, whichever process did it.
        self.moves = Gauge("tiering_moves", "Moves by outcome or step, as projected from the logs",
                           ["outcome"], registry=self.registry)
        self.decisions = Gauge("tiering_decisions", "Decisions recorded, by status", ["status"],
                               registry=self.registry)
        self.objects = Gauge("tiering_objects", "Live objects by tier", ["tier"], registry=self.registry)
        self.bytes = Gauge("tiering_bytes", "Bytes of live objects by tier", ["tier"], registry=self.registry)
        ProcessCollector(registry=self.registry)  # the API process's CPU, memory, open files
        PlatformCollector(registry=self.registry)

    def count_accepted(self, accepted: int, events: int) -> None:
        """A batch recorded: by the API, or by the launch's own producer."""
        self.batches.labels("accepted").inc()
        self.records.labels("accepted").inc(accepted)
        self.events.inc(events)

    def refresh(self, read_models: Any) -> None:
        """Set the estate gauges from the read models (aggregate tables: cost
        grows with tenants and tiers, not objects). A scrape never fails for it."""
        try:
            m = read_models.metrics()
            for key, value in m.items():
                if key.startswith("moves_"):
                    self.moves.labels(key[len("moves_"):]).set(value)
            for tier, row in m["tiers"].items():
                self.objects.labels(tier).set(row["objects"])
                self.bytes.labels(tier).set(row["bytes"])
            for status, n in read_models.decision_counts().items():
                self.decisions.labels(status).set(n)
        except Exception:  # noqa: BLE001 - the other metrics still go out
            log.warning("estate gauges not refreshed", exc_info=True)
