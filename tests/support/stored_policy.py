"""A price policy kept as a launched stack keeps it (a stored setting), on an
in-memory event store: for tests of what reads it."""

from __future__ import annotations

import yaml

from tiering.domain.application import ObjectLogApplication
from tiering.projections.scopes import StoredPolicy


def stored_policy(text: str | None = None) -> StoredPolicy:
    policy = StoredPolicy.of_store(ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    if text is not None:
        set_policy(policy, text)
    return policy


def set_policy(policy: StoredPolicy, text: str) -> None:
    """Stores the YAML's value as is: unvalidated, as PUT /policies never would."""
    policy.setting.set(yaml.safe_load(text) or {}, "test")
