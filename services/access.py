"""Identity and access: API keys, what each role may do, and the action log.

Every call presents a key (``Authorization: Bearer <key>`` or ``X-API-Key``).
A key belongs to one tenant (or to all, ``*``) and has a role; a caller sees
only its tenant's objects, and a request about another tenant's is answered
as if it did not exist. Operator and admin actions are recorded, with the
key's identity, in the governance log (``tiering audit --actions``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tiering.domain.governance import ALL_TENANTS, GovernanceLog, KeyRefused, Principal, Role
from tiering.services.errors import Forbidden, NotFound, Unauthenticated, invalid

# A key's check is cached this long: revocation takes effect within it.
AUTH_CACHE_S = 5.0


class AccessControl:
    def __init__(self, log: GovernanceLog, clock=time.time):
        self.log = log
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    # ----- who is calling ---------------------------------------------------------
    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthenticated("an API key is required: 'Authorization: Bearer <key>' or 'X-API-Key'")
        now = self.clock()
        with self._lock:
            hit = self._cache.get(presented)
        if hit is not None and now - hit[0] < AUTH_CACHE_S:
            return hit[1]
        try:
            principal = self.log.authenticate(presented, now)
        except KeyRefused:
            # Unknown, wrong, revoked or expired: the caller learns only that it failed.
            raise Unauthenticated("the API key is not valid (unknown, revoked or expired)") from None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[presented] = (now, principal)
        return principal

    # ----- keys -------------------------------------------------------------------
    def issue(self, by: Principal, tenant: str, role: Role, name: str,
              expires_in_s: float | None) -> dict[str, Any]:
        """A new key, within the issuer's own tenant and role; its secret is in
        this answer only."""
        if not by.sees(tenant):
            raise Forbidden(f"this key may not issue keys for tenant {tenant}")
        if not by.may(role):
            raise Forbidden(f"this key may not issue a key with role {role.value}")
        if expires_in_s is not None and expires_in_s <= 0:
            raise invalid("expires_in_s", "must be positive")
        expires_at = None if expires_in_s is None else self.clock() + expires_in_s
        secret, key = self.log.issue_key(tenant, role, name, expires_at, by.identity)
        self.record(by, "key.issue", tenant, key.key_id, {"role": role.value, "name": name})
        return {**key.describe(), "key": secret}

    def bootstrap(self, path: Path) -> str | None:
        """On a store with no keys, issue the first admin key (all tenants) and
        write it to ``path`` (0600); the key, or None if keys exist already."""
        if self.log.has_keys():
            return None
        system = Principal("system", "system", ALL_TENANTS, Role.ADMIN)
        secret, key = self.log.issue_key(ALL_TENANTS, Role.ADMIN, "first-admin", None, system.identity)
        self.record(system, "key.issue", ALL_TENANTS, key.key_id, {"role": "admin", "name": "first-admin"})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text(secret + "\n")
        tmp.replace(path)
        return secret

    def list_keys(self, by: Principal) -> list[dict[str, Any]]:
        return [k.describe() for k in self.log.keys() if by.sees(k.tenant)]

    def revoke(self, by: Principal, key_id: str) -> dict[str, Any]:
        key = self.log.key(key_id)
        if key is None or not by.sees(key.tenant):
            raise NotFound(f"unknown key {key_id}")
        if not by.may(Role(key.role)):
            raise Forbidden(f"this key may not revoke a key with role {key.role}")
        key = self.log.revoke_key(key_id, by.identity)
        assert key is not None
        with self._lock:  # effective at once in this process
            self._cache = {k: v for k, v in self._cache.items() if v[1].key_id != key_id}
        self.record(by, "key.revoke", key.tenant, key_id)
        return key.describe()

    # ----- what was done ----------------------------------------------------------
    def record(self, by: Principal, action: str, tenant: str, target: str = "",
               details: dict[str, Any] | None = None) -> None:
        self.log.record_action(by, action, tenant, target, details)

    def actions(self, by: Principal, tenant: str | None = None) -> list[dict[str, Any]]:
        if tenant is not None and not by.sees(tenant):
            raise NotFound(f"unknown tenant {tenant}")
        scope = tenant if tenant is not None else (None if by.all_tenants else by.tenant)
        return self.log.actions(scope)


def tenant_scope(by: Principal, tenant: str | None) -> str | None:
    """The tenant a list is filtered to: the one asked for (if this key sees
    it), else the key's own; None (every tenant) only for an all-tenants key."""
    if tenant is None:
        return None if by.all_tenants else by.tenant
    if not by.sees(tenant):
        raise NotFound(f"unknown tenant {tenant}")
    return tenant


def require_tenant(by: Principal, tenant: str) -> str:
    """``tenant``, if this key sees it; another tenant's things do not exist for it."""
    if not by.sees(tenant):
        raise NotFound(f"unknown tenant {tenant}")
    return tenant
