"""Price overrides per tenant and key prefix: read and replace the policy file.

``/metrics`` and the read models apply the file when they read; the
projection runner re-buckets its per-prefix aggregates when the set of
prefixes changes (projections.scopes).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from tiering.adapters.policy_file import dump_policy, load_policy_file
from tiering.domain.policy_config import PolicyConfig
from tiering.services.errors import Conflict, Invalid

log = logging.getLogger(__name__)


class Policies:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int], PolicyConfig] | None = None

    def current(self) -> PolicyConfig:
        """The file's policy, parsed again only when the file changed (every
        ingest batch asks, for its quotas)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return PolicyConfig()
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cached
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            config = load_policy_file(self.path)
        except ValueError:
            # A hand edit that does not parse; its error may quote the file.
            log.exception("the policy file does not parse")
            raise Conflict("the policy file does not parse (details in the server log); "
                           "PUT /policies replaces it") from None
        self._cached = (stamp, config)
        return config

    def replace(self, body: Any) -> dict[str, Any]:
        try:
            config = PolicyConfig.from_dict(body)
        except ValueError as e:
            raise Invalid([{"field": "body", "reason": str(e)}], str(e)) from None
        with self._lock:  # whole file or nothing, for every reader
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(dump_policy(config))
            tmp.replace(self.path)
        return config.to_dict()
