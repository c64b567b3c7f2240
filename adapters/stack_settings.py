"""A stack setting read from and written to the event store (``domain.stack_settings``)."""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from tiering.adapters.retrying import retrying
from tiering.domain.stack_settings import StackSetting, setting_id


class StoredSetting:
    """One setting's newest value. A read fetches only the events after the
    version it already knows (one indexed query when nothing changed), so a
    change made by any process is seen by every other on its next read,
    wherever it runs. The aggregate cache is bypassed: it is never
    fast-forwarded, and settings have more than one writer."""

    def __init__(self, app: Application, name: str):
        self.app, self.name, self.id = app, name, setting_id(name)
        self._lock = threading.Lock()
        self.version = 0
        self.value: dict[str, Any] | None = None

    def get(self) -> tuple[int, dict[str, Any] | None]:
        """(version, value): (0, None) if it was never set."""
        with self._lock:
            fresh = self.app.recorder.select_events(self.id, gt=self.version)
            if fresh:
                last: Any = self.app.mapper.to_domain_event(fresh[-1])
                self.version, self.value = last.originator_version, last.value
            return self.version, self.value

    def set(self, value: dict[str, Any], by: str) -> int:
        """Records ``value``; returns the new version. Two writers at once: the
        later one reads the other's version and records after it."""
        for attempt in retrying(IntegrityError, attempts=5, first_s=0.01, max_s=0.2):
            with attempt:
                version, _ = self.get()
                if version == 0:
                    setting = StackSetting(self.name, value, by)
                else:
                    setting = self.app.repository.get(self.id, version=version)
                    setting.change(value, by)
                self.app.save(setting)
        return self.get()[0]
