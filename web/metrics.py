"""Operational counters for Prometheus, on a registry per app instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
