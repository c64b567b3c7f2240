"""Price overrides per tenant and key prefix: read and replace the stored policy.

The policy lives in the event store (``domain.stack_settings``), so every
process reads the same one from any node. ``/metrics`` and the read models
apply it when they read; the projection runner re-buckets its per-prefix
aggregates when the set of prefixes changes (projections.scopes).
"""

from __future__ import annotations

from typing import Any, Protocol

from tiering.domain.policy_config import PolicyConfig
from tiering.projections.scopes import StoredPolicy
from tiering.services.errors import Conflict, Invalid


class SettingPort(Protocol):
    """One stored setting (adapters.stack_settings.StoredSetting)."""

    def get(self) -> tuple[int, dict[str, Any] | None]: ...

    def set(self, value: dict[str, Any], by: str) -> int: ...


class Policies:
    def __init__(self, setting: SettingPort):
        self.setting = setting
        self.stored = StoredPolicy(setting)  # parsed again only when it changed

    def current(self) -> PolicyConfig:
        """The policy in force (every ingest batch asks, for its quotas)."""
        config, ok = self.stored.load()
        if not ok:
            raise Conflict("the stored policy does not parse (details in the server log); "
                           "PUT /policies replaces it")
        return config or PolicyConfig()

    def replace(self, body: Any, by: str = "") -> dict[str, Any]:
        try:
            config = PolicyConfig.from_dict(body)
        except ValueError as e:
            raise Invalid([{"field": "body", "reason": str(e)}], str(e)) from None
        self.setting.set(config.to_dict(), by)  # whole or nothing, for every reader
        return config.to_dict()
