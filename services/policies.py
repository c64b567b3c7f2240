"""Price overrides per tenant and key prefix: read and replace the stored policy.

The policy lives in the event store (``domain.stack_settings``), so every
process reads the same one from any node. ``/metrics`` and the read models
apply it when they read; the projection runner re-buckets its per-prefix
aggregates when the set of prefixes changes (projections.scopes).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from tiering.domain.policy_config import PolicyConfig
from tiering.services.errors import Conflict, Invalid

log = logging.getLogger(__name__)


class SettingPort(Protocol):
    """One stored setting (adapters.stack_settings.StoredSetting)."""

    def get(self) -> tuple[int, dict[str, Any] | None]: ...

    def set(self, value: dict[str, Any], by: str) -> int: ...


class Policies:
    def __init__(self, setting: SettingPort):
        self.setting = setting
        self._cached: tuple[int, PolicyConfig] | None = None

    def current(self) -> PolicyConfig:
        """The policy in force, parsed again only when it changed (every ingest
        batch asks, for its quotas)."""
        version, raw = self.setting.get()
        if raw is None:
            return PolicyConfig()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            config = PolicyConfig.from_dict(raw)
        except ValueError:
            log.exception("the stored policy does not parse")
            raise Conflict("the stored policy does not parse (details in the server log); "
                           "PUT /policies replaces it") from None
        self._cached = (version, config)
        return config

    def replace(self, body: Any, by: str = "") -> dict[str, Any]:
        try:
            config = PolicyConfig.from_dict(body)
        except ValueError as e:
            raise Invalid([{"field": "body", "reason": str(e)}], str(e)) from None
        self.setting.set(config.to_dict(), by)  # whole or nothing, for every reader
        return config.to_dict()
