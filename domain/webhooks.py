"""Incident webhooks: who subscribed to what, and every delivery's outcome.

A subscription names a tenant (or ``*``), a URL and the incidents it wants;
its signing secret is kept in the governance log (the receiver needs the
same secret to check a signature). Each delivery is an aggregate of its own:
created with the body it carries, then each attempt, then how it ended.

Signatures: ``X-Tiering-Signature: t=<unix seconds>,v1=<hex>`` where hex is
HMAC-SHA256(secret, "<t>." + body). A receiver recomputes it, compares in
constant time, refuses a ``t`` older than its tolerance, and drops a
``X-Tiering-Delivery`` id it has seen (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from eventsourcing.domain import Aggregate, event

INCIDENTS = {
    "move.failed": "a move failed for good (dead-lettered)",
    "content.mismatch": "bytes served did not match the log's checksum",
    "projection.stalled": "the read models stopped catching up",
    "quota.exceeded": "a tenant hit one of its quotas",
    "health.degraded": "a health check started failing",
    "decision.pending": "a decision waits for an operator's approval",
}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does: the signature matches and is recent."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    fresh = abs(now - timestamp) <= tolerance_s
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), parts.get("v1", ""))


class Subscription(Aggregate):
    class Created(Aggregate.Created):
        tenant: str
        url: str
        incidents: list[str]
        secret: str
        by: str

    class Removed(Aggregate.Event):
        by: str

    @event(Created)
    def __init__(self, tenant: str, url: str, incidents: list[str], secret: str, by: str):
        self.tenant = tenant
        self.url = url
        self.incidents = incidents
        self.secret = secret
        self.by = by
        self.removed = False

    @event(Removed)
    def remove(self, by: str) -> None:
        self.removed = True

    def wants(self, tenant: str, incident: str) -> bool:
        return not self.removed and incident in self.incidents and self.tenant in ("*", tenant)

    def describe(self) -> dict[str, Any]:
        return {"id": str(self.id), "tenant": self.tenant, "url": self.url, "incidents": self.incidents,
                "by": self.by, "removed": self.removed}


class Delivery(Aggregate):
    class Created(Aggregate.Created):
        subscription_id: str
        tenant: str
        incident: str
        body: str

    class Attempted(Aggregate.Event):
        attempt: int
        status: int | None
        error: str | None

    class Ended(Aggregate.Event):
        outcome: str

    @event(Created)
    def __init__(self, subscription_id: str, tenant: str, incident: str, body: str):
        self.subscription_id = subscription_id
        self.tenant = tenant
        self.incident = incident
        self.body = body
        self.attempts: list[dict[str, Any]] = []
        self.outcome: str | None = None

    @event(Attempted)
    def attempted(self, attempt: int, status: int | None, error: str | None) -> None:
        self.attempts.append({"attempt": attempt, "status": status, "error": error})

    @event(Ended)
    def ended(self, outcome: str) -> None:
        self.outcome = outcome

    def describe(self) -> dict[str, Any]:
        return {"id": str(self.id), "subscription_id": self.subscription_id, "tenant": self.tenant,
                "incident": self.incident, "attempts": self.attempts, "outcome": self.outcome,
                "created_at": self.created_on.timestamp()}
