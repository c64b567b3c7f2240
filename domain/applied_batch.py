"""That one shard's part of an idempotent ingest batch was applied, and what it did.

A client that retries a batch with the same ``Idempotency-Key`` must not count
its records twice, however late the retry comes and whatever else was
ingested in between; and a batch that a crash left applied on one shard but
not another must, when retried, be applied on the other only. Each shard
therefore records, in the same transaction as the part's own events, a marker
named after the part: a retry finds it and applies nothing. The marker keeps a
digest of the whole request, so a key reused for a different batch is
refused instead of silently taken for a retry.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from tiering.domain.records import AccessRecord

BATCH_NAMESPACE = UUID("0b6f3c8e-51d4-5a7e-8c2b-9e4d7a1f3c60")


class IdempotencyConflict(ValueError):
    """The key was used before for a batch with other contents."""


def batch_uuid(batch_id: str) -> UUID:
    return uuid5(BATCH_NAMESPACE, batch_id)


def idempotent_batch_base(scoped_key: str) -> str:
    """The batch-id stem for a client's key (already scoped to who sent it)."""
    return "idem-" + hashlib.sha256(scoped_key.encode()).hexdigest()[:32]


def request_digest(records: Sequence[AccessRecord]) -> str:
    """A digest of a batch's records, in order: what tells a retry from a reuse."""
    h = hashlib.sha256()
    for r in records:
        h.update(repr(r.as_tuple()).encode())
        h.update(b"\n")
    return h.hexdigest()


class AppliedBatch(Aggregate):
    class Applied(Aggregate.Created):
        batch_id: str
        request_digest: str
        result: dict[str, Any]

    @event(Applied)
    def __init__(self, batch_id: str, request_digest: str, result: dict[str, Any]):
        self.batch_id = batch_id
        self.request_digest = request_digest
        self.result = result

    @staticmethod
    def create_id(batch_id: str, **_: Any) -> UUID:
        return batch_uuid(batch_id)

    def check_same(self, request_digest: str) -> None:
        if request_digest != self.request_digest:
            raise IdempotencyConflict("this Idempotency-Key was already used for a different batch; "
                                      "nothing was applied here")
