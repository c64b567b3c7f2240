"""Deterministic identities.

An object's id is derived from (tenant, key, incarnation) so that any process
can compute it without a lookup table; a key that is deleted and written again
starts a new incarnation, because a deleted object's log is closed for good.
"""

from __future__ import annotations

import hashlib
from uuid import UUID, uuid5

OBJECT_NAMESPACE = UUID("6f1c2a4e-3b7d-5e10-9a8c-7d2f41b0c9e3")


def object_id(tenant: str, key: str, incarnation: int = 0) -> UUID:
    name = f"{tenant}\x00{key}" if incarnation == 0 else f"{tenant}\x00{key}\x00{incarnation}"
    return uuid5(OBJECT_NAMESPACE, name)


def shard_of(tenant: str, key: str, shards: int) -> int:
    """Stable across processes and Python runs (unlike ``hash()``)."""
    digest = hashlib.blake2b(f"{tenant}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
