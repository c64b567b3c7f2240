"""Who may do what: API keys with a tenant and a role, and the log of what
operators and admins did.

Keys and actions are aggregates of their own application, ``GovernanceLog``,
kept apart from the object logs (their own events table or file): a key's
log holds its issue and its revocation; an action's log holds the one event
that says who did what, to which tenant. Only a digest of a key's secret is
stored; the secret is shown once, when the key is issued.

No wall clock is read here: expiry is checked against the ``now`` a caller
passes; when an action happened is the event store's own timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterator
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

ALL_TENANTS = "*"
KEY_PREFIX = "tk"
_KEY_NAMESPACE = uuid5(NAMESPACE_URL, "tiering:api-key")


class Role(str, Enum):
    """Each role may do what the roles before it may."""

    VIEWER = "viewer"      # read its tenant's objects, moves, decisions, figures, bytes
    OPERATOR = "operator"  # + ingest, request moves, answer decisions
    ADMIN = "admin"        # + policies, autopilot, imports, training, keys

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


class KeyRefused(Exception):
    """A presented key that does not let its bearer in (the reason stays server-side)."""


def key_uuid(key_id: str) -> UUID:
    return uuid5(_KEY_NAMESPACE, key_id)


def digest(secret: str) -> str:
    """Keys carry 256 random bits, so one SHA-256 is enough: there is nothing to guess."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str]:
    """``tk_<id>_<secret>`` as (id, secret); KeyRefused if it is not that shape."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != 12 or not secret:
        raise KeyRefused("malformed key")
    return key_id, secret


class AccessKey(Aggregate):
    class Issued(Aggregate.Created):
        key_id: str
        tenant: str
        role: str
        name: str
        secret_digest: str
        expires_at: float | None
        issued_by: str

    class Revoked(Aggregate.Event):
        by: str

    @event(Issued)
    def __init__(self, key_id: str, tenant: str, role: str, name: str, secret_digest: str,
                 expires_at: float | None, issued_by: str):
        self.key_id = key_id
        self.tenant = tenant
        self.role = role
        self.name = name
        self.secret_digest = secret_digest
        self.expires_at = expires_at
        self.issued_by = issued_by
        self.revoked_by: str | None = None

    @staticmethod
    def create_id(key_id: str, **_: Any) -> UUID:
        return key_uuid(key_id)

    @event(Revoked)
    def revoke(self, by: str) -> None:
        self.revoked_by = by

    @property
    def revoked(self) -> bool:
        return self.revoked_by is not None

    def check(self, secret: str, now: float) -> "Principal":
        if not hmac.compare_digest(self.secret_digest, digest(secret)):
            raise KeyRefused("wrong secret")
        if self.revoked:
            raise KeyRefused("revoked")
        if self.expires_at is not None and now >= self.expires_at:
            raise KeyRefused("expired")
        return Principal(self.key_id, self.name, self.tenant, Role(self.role))

    def describe(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "tenant": self.tenant, "role": self.role,
                "expires_at": self.expires_at, "issued_by": self.issued_by,
                "issued_at": self.created_on.timestamp(), "revoked": self.revoked,
                "revoked_by": self.revoked_by}


class OperatorAction(Aggregate):
    """One thing an operator or admin did; its one event is the record."""

    class Recorded(Aggregate.Created):
        by: str
        role: str
        tenant: str
        action: str
        target: str
        details: dict[str, Any]

    @event(Recorded)
    def __init__(self, by: str, role: str, tenant: str, action: str, target: str, details: dict[str, Any]):
        self.by = by
        self.role = role
        self.tenant = tenant
        self.action = action
        self.target = target
        self.details = details


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's identity, tenant scope and role."""

    key_id: str
    name: str
    tenant: str
    role: Role

    @property
    def identity(self) -> str:
        return f"{self.name}#{self.key_id}"

    @property
    def all_tenants(self) -> bool:
        return self.tenant == ALL_TENANTS

    def sees(self, tenant: str) -> bool:
        return self.all_tenants or tenant == self.tenant

    def may(self, role: Role) -> bool:
        return self.role.allows(role)


class GovernanceLog(Application):
    """Keys and operator actions."""

    def issue_key(self, tenant: str, role: Role, name: str, expires_at: float | None,
                  issued_by: str) -> tuple[str, AccessKey]:
        """A new key; returns (the key to hand over once, its record)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = AccessKey(key_id=key_id, tenant=tenant, role=role.value, name=name,
                        secret_digest=digest(secret), expires_at=expires_at, issued_by=issued_by)
        self.save(key)
        return f"{KEY_PREFIX}_{key_id}_{secret}", key

    def key(self, key_id: str) -> AccessKey | None:
        try:
            return self.repository.get(key_uuid(key_id))
        except AggregateNotFoundError:
            return None

    def authenticate(self, presented: str, now: float) -> Principal:
        key_id, secret = split_key(presented)
        key = self.key(key_id)
        if key is None:
            raise KeyRefused("unknown key")
        return key.check(secret, now)

    def revoke_key(self, key_id: str, by: str) -> AccessKey | None:
        key = self.key(key_id)
        if key is None:
            return None
        if not key.revoked:
            key.revoke(by)
            self.save(key)
        return key

    def record_action(self, who: Principal, action: str, tenant: str, target: str = "",
                      details: dict[str, Any] | None = None) -> None:
        self.save(OperatorAction(by=who.identity, role=who.role.value, tenant=tenant, action=action,
                                 target=target, details=details or {}))

    def events_of(self, *kinds: type) -> Iterator[Any]:
        """The log's events of these classes, oldest first. The store filters by
        topic, so finding the few subscriptions or keys never reads the many
        deliveries and actions."""
        topics = [get_topic(k) for k in kinds]
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=500, topics=topics)
            for n in page:
                yield self.mapper.to_domain_event(n)
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def keys(self) -> list[AccessKey]:
        ids = [e.originator_id for e in self.events_of(AccessKey.Issued)]
        return [self.repository.get(i) for i in ids]

    def actions(self, tenant: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
        """Every recorded action (oldest first), optionally of one tenant or after ``since``."""
        out = []
        for e in self.events_of(OperatorAction.Recorded):
            at = e.timestamp.timestamp()
            if (tenant is None or e.tenant in (tenant, ALL_TENANTS)) and (since is None or at >= since):
                out.append({"at": at, "by": e.by, "role": e.role, "tenant": e.tenant,
                            "action": e.action, "target": e.target, "details": e.details})
        return out

    def has_keys(self) -> bool:
        return next(self.events_of(AccessKey.Issued), None) is not None
