"""Background actors: the projection runner and the metric snapshotter.

Each recovers everything it needs from the database in ``__init__`` (the
runner its tracked position), so Ray may restart them at will.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tiering.config import Settings

log = logging.getLogger(__name__)


class ProjectionRunnerWorker:
    def __init__(self, settings: dict[str, Any] | Settings):
        from tiering.projections.runner import ProjectionRunner

        self.settings = settings if isinstance(settings, Settings) else Settings(**settings)
        self.runner = ProjectionRunner(self.settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.runner.run_forever, args=(self._stop,),
                                        name="projection-runner", daemon=True)
        self._thread.start()

    def instance(self) -> str | None:
        """The deployment this actor serves: a stack adopts only its own."""
        return self.settings.instance_id

    def lag(self) -> tuple[int, int]:
        return tuple(self.runner.lag())

    def wait_caught_up(self, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            position, head = self.runner.lag()
            if (position or 0) >= (head or 0):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class SnapshotterWorker:
    """Writes metric snapshots on a wall-clock schedule, never on user reads."""

    def __init__(self, settings: dict[str, Any] | Settings):
        from tiering.projections.queries import ReadModels

        self.settings = settings if isinstance(settings, Settings) else Settings(**settings)
        self.read_models = ReadModels.from_settings(self.settings)  # with the price overrides
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="snapshotter", daemon=True)
        self._thread.start()

    def instance(self) -> str | None:
        """The deployment this actor serves: a stack adopts only its own."""
        return self.settings.instance_id

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.read_models.write_snapshot(time.time())
            except Exception:  # keep the schedule; the next tick retries
                log.exception("metric snapshot failed")
            self._stop.wait(self.settings.snapshot_interval_s)

    def snapshot_now(self) -> dict[str, Any]:
        return self.read_models.write_snapshot(time.time())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def background_actor_classes():
    import ray

    opts = dict(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=4)
    return ray.remote(**opts)(ProjectionRunnerWorker), ray.remote(**opts)(SnapshotterWorker)
