"""Movers: a pool of async Ray actors that carry decisions through a move.

Per decision: (1) record the move as requested, once per move id; (2) copy
source to target server-side; (3) verify the target against the source and
the source against the log; (4) record the commit, after which the log says
the object lives in the target; (5) delete the source and record it
reclaimed. Each step first reads where the log says the move is, so a move
interrupted anywhere is resumed by driving its decision again (Kafka
redelivery, a Ray retry or the reconciler). One object's decisions are
handled one at a time; different objects' concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import (
    ObjectMissing,
    StoreError,
    StoreUnavailable,
    TierBuckets,
    object_name,
    open_store,
)
from tiering.adapters.ray_spread import node_id
from tiering.adapters.retrying import aretrying
from tiering.config import Settings
from tiering.domain.ids import shard_of
from tiering.domain.model import DomainRuleError, ObjectDeleted, UnknownMove
from tiering.shards.flow import ByteBudget, ShardLink
from tiering.shards.steps import (
    CommitMove,
    DiscardCopy,
    EndMove,
    ReclaimSource,
    RecordCopied,
    RecordVerified,
    RequestMove,
    ShardStep,
)

log = logging.getLogger(__name__)
SKIPPED = ("unknown", "stale", "busy", "duplicate")


class _Permanent(Exception):
    """Retrying cannot help (the source is gone, the store refuses us)."""


class _MoveGone(Exception):
    """The log ended the move under us (a concurrent overwrite, a delete)."""


def _transient(e: BaseException) -> bool:
    """Worth another attempt: anything but a fault no retry mends (the source
    is gone; the store refuses our credentials or lacks a bucket). A shard
    restarting or a rule race clears on its own."""
    if isinstance(e, _Permanent):
        return False
    return not isinstance(e, StoreError) or isinstance(e, StoreUnavailable)


def mover_for(object_id: str, movers: int) -> int:
    """The mover that takes an object's decisions when nothing else decides."""
    return UUID(object_id).int % movers


class Failpoints:
    """Test-only fault injection right after a step: the process dies (as a
    SIGKILL would), or, with ``sleep``, that move stalls for a while.

    Each entry ``{"step", "nth", "marker"[, "sleep"]}`` fires once, on the nth
    time this process passes ``step``, and leaves ``marker`` so a restarted
    process does not fire it again."""

    def __init__(self, spec: list[dict[str, Any]] | None):
        self.spec = list(spec or [])
        self.counts: dict[str, int] = {}

    async def hit(self, step: str) -> None:
        if not self.spec:
            return
        self.counts[step] = self.counts.get(step, 0) + 1
        for fp in self.spec:
            marker = Path(fp["marker"])
            if fp["step"] == step and self.counts[step] == fp.get("nth", 1) and not marker.exists():
                marker.write_text(f"{os.getpid()} {time.time()}\n")
                if "sleep" in fp:
                    await asyncio.sleep(fp["sleep"])
                else:
                    os._exit(137)


class MoverWorker:
    def __init__(self, index: int, settings: dict[str, Any] | Settings, shards: list[str], *,
                 consume: bool = False, failpoints: list[dict[str, Any]] | None = None):
        import ray

        self.index = index
        self.settings = settings if isinstance(settings, Settings) else Settings(**settings)
        # Shards by name, not by handle: handles among an actor's constructor
        # arguments live in the object store, and a restart could not rebuild it.
        self.shards = [ShardLink(ray.get_actor(name)) for name in shards]
        self.store = open_store(self.settings)
        self.buckets = TierBuckets.from_settings(self.settings)
        # Blocking S3 calls run here; asyncio's default pool is only cores + 4.
        self.pool = ThreadPoolExecutor(max(4, 2 * self.settings.mover_concurrency),
                                       thread_name_prefix="mover-io")
        self.failpoints = Failpoints(failpoints)
        self._slots = asyncio.Semaphore(self.settings.mover_concurrency)
        self._copying = ByteBudget(self.settings.mover_copy_budget_bytes)
        self._locks: dict[str, list] = {}
        self._active: dict[str, str] = {}
        self.started_at = time.time()
        self.consumer = None
        if consume and self.settings.kafka_bootstrap:
            from tiering.adapters.bus_kafka import KafkaDecisionConsumer

            self.consumer = KafkaDecisionConsumer(
                self.settings.kafka_bootstrap, self.drive, prefix=self.settings.kafka_topic_prefix,
                concurrency=self.settings.mover_concurrency, client_id=f"mover-{index}",
                auth=self.settings.kafka_auth)
            # An async actor's __init__ runs on its event loop, so a restarted
            # mover rejoins the group by itself.
            self._consuming = asyncio.get_event_loop().create_task(self.consumer.run())

    # ----- the actor's methods -------------------------------------------------
    async def handle(self, decision: dict[str, Any]) -> dict[str, Any]:
        return await self.drive(Decision.decode(decision))

    async def in_progress(self) -> list[str]:
        return list(self._active)

    async def instance(self) -> str | None:
        """The deployment this actor serves: a stack adopts only its own."""
        return self.settings.instance_id

    async def ping(self) -> dict[str, Any]:
        return {"index": self.index, "pid": os.getpid(), "node": node_id(), "started_at": self.started_at,
                "active": len(self._active), "consuming": self.consumer is not None,
                "handled": self.consumer.handled if self.consumer else None}

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consuming, 90)

    # ----- one decision ----------------------------------------------------------
    async def drive(self, d: Decision) -> dict[str, Any]:
        """Never raises: every decision ends in an outcome for the bus."""
        async with self._lock(d.object_id), self._slots:
            self._active[d.move_id] = d.object_id
            try:
                return await self._with_retries(d)
            except Exception as e:  # noqa: BLE001 - reported; the reconciler finishes the move
                log.exception("move %s could not be ended", d.move_id)
                return self._outcome(d, "failed", f"could not record the outcome: {e!r}", 0, True)
            finally:
                self._active.pop(d.move_id, None)

    @contextlib.asynccontextmanager
    async def _lock(self, object_id: str):
        entry = self._locks.setdefault(object_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[object_id]

    async def _with_retries(self, d: Decision) -> dict[str, Any]:
        s, attempt_no = self.settings, 0
        try:
            async for attempt in aretrying(_transient, attempts=s.move_attempts,
                                           first_s=s.move_backoff_s, max_s=s.move_backoff_max_s):
                with attempt:
                    attempt_no = attempt.retry_state.attempt_number
                    return await self._attempt(d, attempt_no)
        except _Permanent as e:
            return await self._give_up(d, str(e), attempt_no)
        except Exception as e:  # noqa: BLE001 - out of attempts, or a fault no retry mends
            return await self._give_up(d, f"{type(e).__name__}: {e}", attempt_no)
        raise AssertionError("unreachable: the last failure is re-raised")

    async def _attempt(self, d: Decision, attempt: int) -> dict[str, Any]:
        shard = self.shards[shard_of(d.tenant, d.key, len(self.shards))]
        try:
            # Every step is stamped in the tenant's event time: the decision's,
            # raised by the shard to the newest it has seen for the tenant.
            r = await shard.run(RequestMove(d, d.decided_at))
        except DomainRuleError as e:  # e.g. a decision to move to the tier it is in
            return self._outcome(d, "skipped", f"{type(e).__name__}: {e}", attempt)
        if r["outcome"] in SKIPPED:
            return self._outcome(d, "skipped", r["reason"] or r["outcome"], attempt)
        obj, move = r["object"], r["object"]["move"]
        src_b, dst_b = self.buckets.of(move["source"]), self.buckets.of(move["target"])
        name = object_name(d.tenant, d.key)
        step = move["step"]
        try:
            if step == "requested":
                # The log's size is logical; what is stored is at most the cap
                # (imports may be larger: the budget is a guide, not a guarantee).
                async with self._copying.hold(min(obj["size"], self.settings.materialize_cap_bytes)):
                    await self._copy(src_b, dst_b, name)
                await self.failpoints.hit("copied")
                await self._step(shard, RecordCopied(d.tenant, d.key, d.move_id, d.decided_at))
                step = "copied"
            if step == "copied":
                problem, checksum = await self._verify(obj, move, src_b, dst_b, name)
                if problem:
                    return await self._end(d, "abort", problem, attempt)
                await self._step(shard, RecordVerified(d.tenant, d.key, d.move_id, checksum,
                                                       d.decided_at))
                await self.failpoints.hit("verified")
                step = "verified"
            if step == "verified":
                await self._step(shard, CommitMove(d.tenant, d.key, d.move_id, d.decided_at))
                await self.failpoints.hit("committed")
        except _MoveGone:
            await shard.run(DiscardCopy(d.tenant, d.key, dst_b))
            return self._outcome(d, "aborted", "the log ended the move while it ran (a concurrent "
                                 "overwrite or delete; see the object's history)", attempt)
        r = await shard.run(ReclaimSource(d.tenant, d.key, d.move_id, d.decided_at))
        await self.failpoints.hit("reclaimed")
        if r["outcome"] == "not_committed":
            raise RuntimeError("reclaim found the move not committed")  # a race: retry from the log
        if r["outcome"] == "gone":
            return self._outcome(d, "skipped", "the object was deleted after the commit", attempt)
        return self._outcome(d, "completed", None, attempt)

    async def _copy(self, src_b: str, dst_b: str, name: str) -> None:
        """One server-side copy. Not made conditional on the source's ETag: a
        write that lands before it is carried along, and one that lands after
        it is caught at verify, which compares the target with the source."""
        try:
            await self._io(self.store.copy, src_b, name, dst_b)
        except ObjectMissing:
            raise _Permanent(f"the source {src_b}/{name} is not in the object store") from None

    async def _verify(self, obj: dict, move: dict, src_b: str, dst_b: str,
                      name: str) -> tuple[str | None, str | None]:
        """(problem, checksum): the target must hold the source's content, and
        the source must be what the log recorded when the move was requested."""
        if obj["size"] != move["source_size"] or obj["etag"] != move["source_etag"]:
            return "concurrent overwrite: the log shows a write since the move was requested", None
        src, tgt = await asyncio.gather(self._io(self.store.stat, src_b, name),
                                        self._io(self.store.stat, dst_b, name))
        if src is None:
            return f"the source {src_b}/{name} vanished before the commit", None
        if tgt is None:
            return f"the target copy {dst_b}/{name} is missing at verify", None
        if src.same_content_as(tgt):
            return None, f"etag:{src.etag}"
        if src.size == tgt.size and (src.multipart or tgt.multipart):
            # Multipart ETags depend on part sizes; compare the content itself.
            a, b = await asyncio.gather(self._io(self.store.digest, src_b, name),
                                        self._io(self.store.digest, dst_b, name))
            if a == b:
                return None, f"sha256:{a}"
        return (f"concurrent overwrite or bad copy: target {tgt.size} B etag {tgt.etag} differs "
                f"from source {src.size} B etag {src.etag}"), None

    async def _step(self, shard: ShardLink, step: ShardStep) -> None:
        try:
            await shard.run(step)
        except (UnknownMove, ObjectDeleted, KeyError) as e:
            raise _MoveGone(str(e)) from None

    async def _end(self, d: Decision, how: Literal["abort", "fail"], reason: str, attempts: int) -> dict[str, Any]:
        shard = self.shards[shard_of(d.tenant, d.key, len(self.shards))]
        r = await shard.run(EndMove(d.tenant, d.key, d.move_id, d.target, how, reason, attempts,
                                    d.decided_at))
        if r["outcome"] == "committed":  # ended by nobody: it committed, finish it
            return self._outcome(d, "committed", "source reclaim pending: " + reason, attempts)
        failed = how == "fail"
        return self._outcome(d, "failed" if failed else "aborted", reason, attempts, failed)

    async def _give_up(self, d: Decision, reason: str, attempts: int) -> dict[str, Any]:
        return await self._end(d, "fail", f"gave up after {attempts} attempts: {reason}", attempts)

    def _outcome(self, d: Decision, outcome: str, reason: str | None, attempts: int,
                 dead_letter: bool = False) -> dict[str, Any]:
        return {"move_id": d.move_id, "object_id": d.object_id, "tenant": d.tenant, "key": d.key,
                "source": d.source, "target": d.target, "policy": d.policy, "outcome": outcome,
                "reason": reason, "attempts": attempts, "dead_letter": dead_letter,
                "at": time.time(), "mover": self.index}

    async def _io(self, fn, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(fn, *args, **kwargs))


def mover_actor_class():
    import ray

    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(MoverWorker)
