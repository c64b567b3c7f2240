"""Incident webhooks: subscriptions, signed deliveries, retries and redelivery.

Deliveries run on a loop thread of their own, so a slow receiver never holds
up a request. Each is retried with exponential backoff (tenacity) and every
attempt, and how the delivery ended, is recorded in the governance log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from typing import Any, Callable
from urllib.parse import urlparse
from uuid import UUID

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from tiering.domain.governance import GovernanceLog, Principal
from tiering.domain.webhooks import INCIDENTS, Delivery, Subscription, signature_header
from tiering.services.errors import Forbidden, NotFound, invalid

log = logging.getLogger(__name__)


class _Refused(Exception):
    """The receiver answered, but not with a 2xx."""


class Webhooks:
    def __init__(self, governance: GovernanceLog, *, attempts: int = 5, first_s: float = 0.5,
                 max_s: float = 30.0, timeout_s: float = 10.0, clock: Callable[[], float] = time.time,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.log = governance
        self.attempts, self.first_s, self.max_s = attempts, first_s, max_s
        self.timeout_s, self.clock, self.transport = timeout_s, clock, transport
        self._lock = threading.Lock()  # the governance log is written from two threads
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhooks", daemon=True)
        self._thread.start()
        self._pending: set[Any] = set()

    # ----- subscriptions ---------------------------------------------------------
    def subscribe(self, by: Principal, tenant: str, url: str, incidents: list[str]) -> dict[str, Any]:
        if not by.sees(tenant):
            raise Forbidden(f"this key may not subscribe to tenant {tenant}")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid("url", "must be an http or https URL")
        unknown = [i for i in incidents if i not in INCIDENTS]
        if unknown or not incidents:
            raise invalid("incidents", f"choose from {', '.join(INCIDENTS)}")
        sub = Subscription(tenant=tenant, url=url, incidents=list(dict.fromkeys(incidents)),
                           secret=secrets.token_urlsafe(32), by=by.identity)
        with self._lock:
            self.log.save(sub)
            self.log.record_action(by, "webhook.subscribe", tenant, str(sub.id), {"url": url})
        return {**sub.describe(), "secret": sub.secret}

    def subscriptions(self, by: Principal | None = None) -> list[Subscription]:
        ids = [e.originator_id for e in self.log.events_of(Subscription.Created)]
        subs: list[Subscription] = [self.log.repository.get(i) for i in ids]
        return [s for s in subs if not s.removed and (by is None or by.sees(s.tenant))]

    def unsubscribe(self, by: Principal, subscription_id: str) -> dict[str, Any]:
        sub = self._get(Subscription, subscription_id)
        if sub is None or sub.removed or not by.sees(sub.tenant):
            raise NotFound(f"unknown subscription {subscription_id}")
        sub.remove(by.identity)
        with self._lock:
            self.log.save(sub)
            self.log.record_action(by, "webhook.unsubscribe", sub.tenant, subscription_id)
        return sub.describe()

    # ----- deliveries ------------------------------------------------------------
    def emit(self, tenant: str, incident: str, data: dict[str, Any]) -> list[str]:
        """Deliver ``incident`` of ``tenant`` to every subscription that wants it."""
        ids = []
        for sub in self.subscriptions():
            if sub.wants(tenant, incident):
                body = json.dumps({"incident": incident, "tenant": tenant, "at": self.clock(), "data": data},
                                  sort_keys=True, default=str)
                delivery = Delivery(subscription_id=str(sub.id), tenant=tenant, incident=incident, body=body)
                with self._lock:
                    self.log.save(delivery)
                ids.append(str(delivery.id))
                self._schedule(delivery.id)
        return ids

    def deliveries(self, by: Principal, subscription_id: str | None = None) -> list[dict[str, Any]]:
        ids = [e.originator_id for e in self.log.events_of(Delivery.Created)]
        found: list[Delivery] = [self.log.repository.get(i) for i in ids]
        return [d.describe() for d in found if by.sees(d.tenant)
                and subscription_id in (None, d.subscription_id)]

    def redeliver(self, by: Principal, delivery_id: str) -> dict[str, Any]:
        delivery = self._get(Delivery, delivery_id)
        if delivery is None or not by.sees(delivery.tenant):
            raise NotFound(f"unknown delivery {delivery_id}")
        self._schedule(delivery.id)
        with self._lock:
            self.log.record_action(by, "webhook.redeliver", delivery.tenant, delivery_id)
        return {"id": delivery_id, "status": "scheduled"}

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait for every delivery scheduled so far to end (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        for future in list(self._pending):
            future.result(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _schedule(self, delivery_id: UUID) -> None:
        future = asyncio.run_coroutine_threadsafe(self._deliver(delivery_id), self._loop)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def _deliver(self, delivery_id: UUID) -> None:
        delivery: Delivery = self.log.repository.get(delivery_id)
        sub: Subscription = self.log.repository.get(UUID(delivery.subscription_id))
        body = delivery.body.encode()
        attempt = 0
        outcome = "failed"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as http:
                async for attempt_ctx in AsyncRetrying(
                        stop=stop_after_attempt(self.attempts),
                        wait=wait_exponential(multiplier=self.first_s, max=self.max_s),
                        retry=retry_if_exception_type((httpx.HTTPError, _Refused)), reraise=True):
                    with attempt_ctx:
                        attempt += 1
                        await self._attempt(http, sub, delivery, body, attempt)
            outcome = "delivered"
        except (httpx.HTTPError, _Refused):
            log.warning("webhook delivery %s to %s failed after %d attempts", delivery_id, sub.url, attempt)
        delivery = self.log.repository.get(delivery_id)
        delivery.ended(outcome)
        with self._lock:
            self.log.save(delivery)

    async def _attempt(self, http: httpx.AsyncClient, sub: Subscription, delivery: Delivery, body: bytes,
                       attempt: int) -> None:
        headers = {"content-type": "application/json", "x-tiering-event": delivery.incident,
                   "x-tiering-delivery": str(delivery.id),
                   "x-tiering-signature": signature_header(sub.secret, int(self.clock()), body)}
        status, error = None, None
        try:
            r = await http.post(sub.url, content=body, headers=headers)
            status = r.status_code
            if not 200 <= status < 300:
                error = f"answered {status}"
        except httpx.HTTPError as e:
            error = type(e).__name__
        record: Delivery = self.log.repository.get(delivery.id)
        record.attempted(attempt, status, error)
        with self._lock:
            self.log.save(record)
        if error is not None:
            if status is None:
                raise httpx.TransportError(error)
            raise _Refused(error)

    def _get(self, cls: type, ident: str) -> Any:
        try:
            found: Any = self.log.repository.get(UUID(ident))
        except Exception:  # noqa: BLE001 - a malformed or unknown id is not found
            return None
        return found if isinstance(found, cls) else None
