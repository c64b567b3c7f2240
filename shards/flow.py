"""Flow control in a mover: group commit towards the shards, and a budget of
bytes being copied at once."""

from __future__ import annotations

import asyncio
import contextlib

from tiering.shards.steps import ShardStep, StepAnswer


class ShardLink:
    """Group commit towards one shard: the steps this mover's moves send it
    while a call is on its way go together in the next call, and so in one
    transaction. Each step still waits for its own answer."""

    MAX_BATCH = 64

    def __init__(self, handle):
        self.handle = handle
        self._queue: list[tuple[ShardStep, asyncio.Future]] = []
        self._sending = False

    async def run(self, step: ShardStep) -> StepAnswer:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((step, future))
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self.MAX_BATCH]
                del self._queue[:self.MAX_BATCH]
                try:
                    answers = await self.handle.run_together.remote([s for s, _ in batch])
                except Exception as e:  # noqa: BLE001 - every step of the call failed
                    answers = [e] * len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if future.done():
                        continue
                    if isinstance(answer, BaseException):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
        finally:
            self._sending = False


class ByteBudget:
    """At most ``limit`` bytes of server-side copies in flight. Many large
    copies at once only make the store thrash; small ones are never held up
    by each other, and one object larger than the budget goes alone."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int):
        want = max(0, min(size, self.limit))
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + want <= self.limit)
            self.used += want
        try:
            yield
        finally:
            async with self._changed:
                self.used -= want
                self._changed.notify_all()
