"""The in-process decision bus: the embedded default when no Kafka is configured.

Each decision is handed straight to its mover (one object, one mover, so one
object's decisions stay in order) and the outcome is kept in memory. It is
not durable: a decision not yet recorded as requested dies with the process.
A move already requested is in the log, and the reconciler finishes it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Awaitable, Callable

from tiering.adapters.bus import Decision

log = logging.getLogger(__name__)
Deliver = Callable[[Decision], Awaitable[dict[str, Any]]]


class InProcessBus:
    def __init__(self, deliver: Deliver, history: int = 10_000, retry_s: float = 1.0):
        self.deliver = deliver
        self.retry_s = retry_s
        self.statuses: collections.deque = collections.deque(maxlen=history)
        self.dead_letters: collections.deque = collections.deque(maxlen=history)
        self._pending: set[asyncio.Task] = set()
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False

    async def publish(self, decision: Decision) -> None:
        if self._stopping:
            raise RuntimeError("the decision bus is stopping")
        task = asyncio.get_running_loop().create_task(self._run(decision))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, decision: Decision) -> None:
        while True:
            try:
                outcome = await self.deliver(decision)
                break
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a mover restarting; the move is idempotent
                log.exception("delivering %s failed; retrying", decision.move_id)
                await asyncio.sleep(self.retry_s)
        self.statuses.append(outcome)
        if outcome.get("dead_letter"):
            self.dead_letters.append({"decision": decision.to_dict(), "outcome": outcome})

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for every published decision's outcome; True if none is left."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)
        return not self._pending

    async def stop(self) -> None:
        self._stopping = True
        if not await self.drain(timeout=30):
            for task in list(self._pending):
                task.cancel()

    def describe(self) -> dict[str, Any]:
        return {"kind": "in-process", "pending": len(self._pending),
                "outcomes": len(self.statuses), "dead_letters": len(self.dead_letters)}
