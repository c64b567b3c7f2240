"""The Kafka decision bus (aiokafka).

Decisions go to ``tiering.decisions`` keyed by object id, so one object's
decisions stay in one partition, in order. Producers are idempotent
(``acks=all``). Movers consume in group ``tiering-movers`` with auto-commit
off: an offset is committed only once the handler has returned, i.e. once the
move's outcome is durable in the event log, and only up to the first record
still in progress, so a crash redelivers exactly what was not finished.
Outcomes go to ``tiering.move-status``; given-up decisions also to the
dead-letter topic.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from typing import Any, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from tiering.adapters.bus import Decision, topic_names
from tiering.adapters.retrying import aretrying

log = logging.getLogger(__name__)
Handler = Callable[[Decision], Awaitable[dict[str, Any]]]


class _PlainSaslNotice(logging.Filter):
    """aiokafka warns at every connection that SASL/PLAIN sends the password
    unencrypted. Chosen on purpose (the launch's broker listens on loopback only;
    a remote SASL_PLAINTEXT broker is the operator's choice, documented), it is
    not worth a line per connection in every mover."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Sending username and password in the clear"


def quiet_plain_sasl_notice() -> None:
    """Drop aiokafka's per-connection notice in this process (once is enough)."""
    conn_log = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, _PlainSaslNotice) for f in conn_log.filters):
        conn_log.addFilter(_PlainSaslNotice())


quiet_plain_sasl_notice()  # every process that runs the bus imports this module


class BusUnavailable(RuntimeError):
    pass


# ``auth`` below: aiokafka's security keyword arguments (``Settings.kafka_auth``),
# empty for a broker without SASL.
Auth = dict[str, str]


def _producer(bootstrap: str, auth: Auth | None = None) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                            request_timeout_ms=15000, retry_backoff_ms=250, **(auth or {}))


async def ensure_topics(bootstrap: str, prefix: str = "", partitions: int = 8, auth: Auth | None = None) -> None:
    names = topic_names(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **(auth or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(names["decisions"], partitions, 1), NewTopic(names["status"], 1, 1),
                  NewTopic(names["dead_letter"], 1, 1)]
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # made meanwhile elsewhere
                await admin.create_topics(missing)
        await _coordinator_ready(admin, names["group"])
    finally:
        await admin.close()


async def _coordinator_ready(admin: AIOKafkaAdminClient, group: str, deadline_s: float = 30.0) -> None:
    """Wait until the broker names a coordinator for the movers' group. A fresh
    broker makes its offsets topic on the first ask and answers "not available"
    until then; movers that joined meanwhile would each log that as an error."""
    try:
        async for attempt in aretrying(KafkaError, first_s=0.1, max_s=1.0, deadline_s=deadline_s,
                                       level=logging.DEBUG):  # an expected wait, not a fault
            with attempt:
                await admin.find_coordinator(group)
    except KafkaError as e:  # the consumers wait for it themselves; say so once
        log.warning("no Kafka group coordinator for %s after %.0f s (%r); movers will keep asking",
                    group, deadline_s, e)


async def send_retrying(producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes,
                        deadline_s: float) -> None:
    """Retry through broker restarts until ``deadline_s``; a resend after an
    unacknowledged send may duplicate a record, which consumers absorb."""
    try:
        async for attempt in aretrying(KafkaError, deadline_s=deadline_s, first_s=0.25, max_s=5.0):
            with attempt:
                await producer.send_and_wait(topic, value, key=key)
    except KafkaError as e:
        raise BusUnavailable(f"Kafka did not accept a record for {topic}: {e!r}") from e


class KafkaDecisionBus:
    """The publishing side, used by the API, the age rule and the benchmark."""

    def __init__(self, bootstrap: str, prefix: str = "", partitions: int = 8,
                 publish_timeout_s: float = 30.0, auth: Auth | None = None):
        self.bootstrap, self.auth = bootstrap, auth
        self.names = topic_names(prefix)
        self.prefix, self.partitions = prefix, partitions
        self.publish_timeout_s = publish_timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix, self.partitions, self.auth)
        self._producer = _producer(self.bootstrap, self.auth)
        await self._producer.start()

    async def publish(self, decision: Decision) -> None:
        await send_retrying(self._producer, self.names["decisions"], decision.encode(),
                            decision.object_id.encode(), self.publish_timeout_s)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    def describe(self) -> dict[str, Any]:
        return {"kind": "kafka", "bootstrap": self.bootstrap, **self.names}


class KafkaDecisionConsumer:
    """One group member, run inside a mover: records of different objects are
    handled concurrently, one object's strictly in order."""

    # Offsets are committed at most this often (and on revocation and stop): a
    # commit per record would cost the broker more than the moves themselves.
    COMMIT_EVERY_S = 0.25

    def __init__(self, bootstrap: str, handle: Handler, *, prefix: str = "",
                 concurrency: int = 8, client_id: str = "mover", auth: Auth | None = None):
        self.bootstrap, self.handle, self.auth = bootstrap, handle, auth
        self.names = topic_names(prefix)
        self.concurrency, self.client_id = concurrency, client_id
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._by_tp: dict[Any, set[asyncio.Task]] = collections.defaultdict(set)
        self._last_by_key: dict[bytes, asyncio.Task] = {}
        self._offsets: dict[Any, collections.deque] = collections.defaultdict(collections.deque)
        self._done: dict[Any, set[int]] = collections.defaultdict(set)
        self._to_commit: dict[Any, int] = {}
        self.handled = 0

    async def run(self) -> None:
        """Until ``stop``; a session that breaks is started again."""
        while not self._stopping.is_set():
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep consuming; Kafka may be restarting
                log.exception("decision consumer session ended; starting another")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._stopping.set()

    async def _session(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.names["group"],
            client_id=self.client_id, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=10000, heartbeat_interval_ms=1000, max_poll_interval_ms=600000,
            **(self.auth or {}))
        producer = _producer(self.bootstrap, self.auth)
        # What an earlier session held is no longer ours: its records come back.
        for table in (self._offsets, self._done, self._to_commit):
            table.clear()
        consumer.subscribe([self.names["decisions"]], listener=_Revoked(self, consumer))
        await producer.start()
        self._producer = producer
        loop, committed_at = asyncio.get_running_loop(), 0.0
        try:
            await consumer.start()
            while not self._stopping.is_set():
                free = self.concurrency - len(self._tasks)
                if free <= 0:
                    await asyncio.wait(self._tasks, timeout=0.5,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    batches = await consumer.getmany(timeout_ms=200, max_records=free)
                    for tp, records in batches.items():
                        for record in records:
                            self._spawn(tp, record)
                if loop.time() - committed_at >= self.COMMIT_EVERY_S:
                    await self._commit(consumer)
                    committed_at = loop.time()
            await self._drain(list(self._tasks), 60)
            await self._commit(consumer)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()

    def _spawn(self, tp, record) -> None:
        self._offsets[tp].append(record.offset)
        before = self._last_by_key.get(record.key)
        task = asyncio.get_running_loop().create_task(self._process(tp, record, before))
        self._last_by_key[record.key] = task
        self._tasks.add(task)
        self._by_tp[tp].add(task)

        def forget(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is not None:
                # Its offset stays uncommitted: the record comes back after a restart.
                log.error("decision at %s@%d was not handled", tp, record.offset,
                          exc_info=t.exception())
            self._tasks.discard(t)
            self._by_tp[tp].discard(t)
            if self._last_by_key.get(record.key) is t:
                del self._last_by_key[record.key]

        task.add_done_callback(forget)

    async def _process(self, tp, record, before: asyncio.Task | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # this object's earlier decision first
        try:
            decision = Decision.decode(record.value)
        except (ValueError, KeyError, TypeError) as e:
            outcome = {"outcome": "failed", "dead_letter": True,
                       "reason": f"undecodable decision: {e!r}", "raw": record.value.decode(errors="replace")}
            decision = None
        else:
            outcome = await self.handle(decision)
        await self._emit(outcome, decision, record.key or b"")
        self._done[tp].add(record.offset)
        self.handled += 1

    async def _emit(self, outcome: dict[str, Any], decision: Decision | None, key: bytes) -> None:
        payload = json.dumps(outcome, default=str).encode()
        await send_retrying(self._producer, self.names["status"], payload, key, 3600)
        if outcome.get("dead_letter"):
            body = json.dumps({"decision": decision.to_dict() if decision else None,
                               "outcome": outcome}, default=str).encode()
            await send_retrying(self._producer, self.names["dead_letter"], body, key, 3600)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        for tp, offsets in self._offsets.items():
            done, last = self._done[tp], None
            while offsets and offsets[0] in done:
                last = offsets.popleft()
                done.discard(last)
            if last is not None:
                self._to_commit[tp] = last + 1
        owned = consumer.assignment()
        for tp in [tp for tp in self._to_commit if tp not in owned]:
            del self._to_commit[tp]  # moved to another member, which will redeliver
        if not self._to_commit:
            return
        try:
            await consumer.commit(dict(self._to_commit))
            self._to_commit.clear()
        except KafkaError as e:  # broker away or group rebalancing: try again next round
            log.warning("offset commit deferred: %r", e)

    async def _drain(self, tasks: list[asyncio.Task], timeout: float) -> None:
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def revoked(self, consumer: AIOKafkaConsumer, tps) -> None:
        """Finish (briefly) and commit what we hold of partitions moving away,
        then forget them: their next owner starts from our last commit."""
        await self._drain([t for tp in tps for t in self._by_tp.get(tp, ())], 30)
        await self._commit(consumer)
        for tp in tps:
            for table in (self._offsets, self._done, self._by_tp, self._to_commit):
                table.pop(tp, None)


class _Revoked(ConsumerRebalanceListener):
    def __init__(self, owner: KafkaDecisionConsumer, consumer: AIOKafkaConsumer):
        self.owner, self.consumer = owner, consumer

    async def on_partitions_revoked(self, revoked) -> None:
        await self.owner.revoked(self.consumer, list(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        return None
