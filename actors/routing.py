"""Splitting a batch over shards: pure, shared by the Ray and in-process paths."""

from __future__ import annotations

from typing import Iterable, Sequence

from domain.ids import shard_of
from domain.records import AccessRecord

RecordTuple = tuple  # (ts, tenant, key, op, size, latency_ms): cheap to pickle


def partition(records: Iterable[AccessRecord], shards: int) -> dict[int, list[RecordTuple]]:
    parts: dict[int, list[RecordTuple]] = {}
    memo: dict[tuple[str, str], int] = {}
    for r in records:
        tk = (r.tenant, r.key)
        index = memo.get(tk)
        if index is None:
            index = memo[tk] = shard_of(r.tenant, r.key, shards)
        parts.setdefault(index, []).append(r.as_tuple())
    return parts


def to_records(rows: Sequence[RecordTuple]) -> list[AccessRecord]:
    return [AccessRecord.from_tuple(t) for t in rows]
