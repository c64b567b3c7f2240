"""How much ingest work the API takes on at once; beyond it, callers are told to come back.

Requests that queue inside the server help no one: at 64 concurrent clients a
batch once waited 13 s (p50) for its turn, longer than clients wait, while the
shards did no more work than at 4. So ingest admits a bounded amount of work in
flight, weighed in request-body bytes (known from ``Content-Length`` before the
body is read, so a refusal costs no parsing), and a bounded number of requests
(for tiny batches); the next request over either bound gets ``Busy`` at once
(429 with ``Retry-After``) instead of a place in a queue. A body larger than
the whole bound is admitted when nothing else is in flight.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from tiering.config import Settings
from tiering.services.errors import Busy


@dataclass
class Admission:
    max_bytes: int
    max_requests: int
    retry_after_s: int = 1
    bytes: int = 0
    requests: int = 0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Admission":
        """The bounds ``settings`` set, or the settings' defaults."""
        if settings is not None:
            return cls(settings.ingest_max_in_flight_bytes, settings.ingest_max_in_flight_requests)
        fields = Settings.model_fields
        return cls(fields["ingest_max_in_flight_bytes"].default, fields["ingest_max_in_flight_requests"].default)

    @contextmanager
    def admit(self, weight: int) -> Iterator[None]:
        """Hold ``weight`` bytes of the bound for the ``with`` block, or raise ``Busy``.
        One event loop calls this, so the counters need no lock."""
        if self.requests and (self.requests >= self.max_requests or self.bytes + weight > self.max_bytes):
            raise Busy(f"ingest is at capacity ({self.bytes:,} bytes in {self.requests} requests "
                       f"in flight); retry after {self.retry_after_s} s", self.retry_after_s)
        self.bytes += weight
        self.requests += 1
        try:
            yield
        finally:
            self.bytes -= weight
            self.requests -= 1
