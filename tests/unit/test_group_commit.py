"""Group commit: concurrent requests' parts for one shard go to it as one call and one
transaction, and each request still gets its own part's answer."""

from __future__ import annotations

import asyncio

import pytest

from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.applied_batch import IdempotencyConflict
from tiering.domain.records import AccessRecord, Op
from tiering.shards.ingest import ShardIngest
from tiering.shards.worker import ShardWorker


class Remote:
    """An in-process shard behind the ``handle.method.remote(...)`` shape Ray gives."""

    def __init__(self, worker: ShardWorker, calls: list):
        self.worker, self.calls = worker, calls

    def __getattr__(self, name):
        method = getattr(self.worker, name)
        calls = self.calls

        class Method:
            @staticmethod
            async def remote(*args):
                calls.append((name, args))
                await asyncio.sleep(0.01)  # a call takes a while: the next group forms meanwhile
                return method(*args)
        return Method


@pytest.fixture
def shard(tmp_path):
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    worker = ShardWorker(0, Settings(data_dir=tmp_path), app=app)
    calls: list = []
    return worker, calls, ShardIngest([Remote(worker, calls)], coalesce_s=0.05, coalesce_records=1000)


def put(key, ts=1_700_000_000.0):
    return [AccessRecord(ts, "t", key, Op.PUT, 10)]


def test_concurrent_requests_share_one_call_and_each_gets_its_own_answer(shard):
    worker, calls, ingest = shard

    async def many():
        return await asyncio.gather(*(ingest.aingest(put(f"k{i}")) for i in range(20)))

    results = asyncio.run(many())
    assert [r.registered for r in results] == [1] * 20
    assert [name for name, _ in calls] == ["ingest_parts"]  # one call, one transaction
    assert len(calls[0][1][0]) == 20
    assert all(worker.app.current("t", f"k{i}").accesses_total == 1 for i in range(20))


def test_a_full_group_goes_at_once_without_waiting(shard):
    worker, calls, ingest = shard
    ingest.coalesce_s, ingest.coalesce_records = 30.0, 5

    async def five():
        return await asyncio.wait_for(asyncio.gather(*(ingest.aingest(put(f"f{i}")) for i in range(5))), 5)

    assert len(asyncio.run(five())) == 5


def test_one_requests_failure_is_its_own(shard):
    worker, calls, ingest = shard
    asyncio.run(ingest.aingest(put("a"), idempotency_key="t\0key-1"))

    async def mixed():
        return await asyncio.gather(ingest.aingest(put("b"), idempotency_key="t\0key-1"),  # reused key
                                    ingest.aingest(put("c")), return_exceptions=True)

    reused, fine = asyncio.run(mixed())
    assert isinstance(reused, IdempotencyConflict)
    assert fine.registered == 1 and worker.app.current("t", "c").accesses_total == 1
    assert worker.app.current("t", "b") is None


def test_the_sync_path_and_a_zero_wait_send_each_request_alone(shard):
    worker, calls, ingest = shard
    ingest.ingest(put("s1"))
    ingest.coalesce_s = 0
    asyncio.run(ingest.aingest(put("s2")))
    assert [name for name, _ in calls] == ["ingest", "ingest"]
