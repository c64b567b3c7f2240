"""The bytes ingest writes for PUTs: deterministic content, and a batch's
independent object-store writes run several at a time.

A batch materialises the bytes of many distinct objects; one PUT at a time
that ran at about 1k objects/s against the embedded SeaweedFS, bound by round
trips rather than by the store. The writes are still all done (or one has
failed) before the shard's call returns, so the shard's serial order holds.
"""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

WRITERS = 16  # the S3 client's connection pool holds 32

_pool: ThreadPoolExecutor | None = None


def source_key(tenant: str, key: str) -> str:
    """How ``sources`` (objects imported from another bucket) are keyed."""
    return f"{tenant}\0{key}"


def synthetic_content(seed: str, size: int) -> bytes:
    """Deterministic bytes: a retried write puts the very same content (and ETag)."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    return rng.randbytes(size)


def run_all(writes: list[Callable[[], T]]) -> list[T]:
    """Run every write and return their results in order; re-raise the first
    failure once all have ended (a retried batch rewrites the same
    deterministic bytes)."""
    global _pool
    if len(writes) <= 1:
        return [w() for w in writes]
    if _pool is None:
        _pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="materialize")
    futures = [_pool.submit(w) for w in writes]
    errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]
