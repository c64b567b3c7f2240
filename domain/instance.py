"""Which deployment an event store belongs to.

Two stacks may share a host, or a Ray cluster; what keeps them apart is that
each knows its own identity and finds it in its own event store. The id is
made once, by the first launch on an empty store, and every later launch on
that store reads it back: a restarted stack is the same instance, a stack on
another store never is. Ray names (the namespace of the stack's actors)
derive from it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

INSTANCE_UUID = UUID("3c9d2e71-6a0b-5f48-9e17-b25c4d8f0a63")
_ID = re.compile(r"[0-9a-f]{16}")


def new_instance_id() -> str:
    return secrets.token_hex(8)


def namespace_of(instance_id: str) -> str:
    """The Ray namespace of this instance's actors."""
    if not _ID.fullmatch(instance_id):
        raise ValueError(f"not an instance id: {instance_id!r}")
    return f"tiering-{instance_id}"


class StackInstance(Aggregate):
    class Started(Aggregate.Created):
        instance_id: str

    @event(Started)
    def __init__(self, instance_id: str):
        self.instance_id = instance_id

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return INSTANCE_UUID
