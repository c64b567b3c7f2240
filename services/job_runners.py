"""Where jobs run: a Ray actor in a launched stack, or a thread in tests.

The in-process runner is the fake of the ``JobRunner`` port for use-case and
router tests; a launched stack uses ``RayJobRunner``, so a training job's CPU
and memory are never the API process's.
"""

from __future__ import annotations

from typing import Any

from tiering.actors.jobs import JobTable
from tiering.services.training import PUBLIC_JOB_ERRORS, JobSpec, run_job


class InProcessJobRunner:
    def __init__(self, max_queued: int = 16):
        self.table = JobTable(run_job, PUBLIC_JOB_ERRORS, max_queued)

    async def submit(self, job_id: str, kind: str, request: dict[str, Any],
                     spec: JobSpec) -> dict[str, Any] | None:
        return self.table.submit(job_id, kind, request, spec)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return self.table.get(job_id)

    async def unfinished(self) -> int:
        return self.table.unfinished()

    def drain(self) -> None:
        self.table.drain()

    def close(self) -> None:
        self.table.shutdown()


class RayJobRunner:
    """One job-worker actor, on this node: the trace library is this node's
    folder (``data_dir/traces``). Models go to the event store."""

    def __init__(self, name: str | None = None, max_queued: int = 16):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from tiering.actors.jobs import job_worker_class

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        opts: dict[str, Any] = {"scheduling_strategy": here}
        if name:
            opts.update(name=name, get_if_exists=True)
        self.handle = job_worker_class().options(**opts).remote(run_job, PUBLIC_JOB_ERRORS, max_queued)

    async def submit(self, job_id: str, kind: str, request: dict[str, Any],
                     spec: JobSpec) -> dict[str, Any] | None:
        return await self.handle.submit.remote(job_id, kind, request, spec)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return await self.handle.get.remote(job_id)

    async def unfinished(self) -> int:
        return await self.handle.unfinished.remote()

    def drain(self) -> None:
        import ray

        ray.get(self.handle.drain.remote())

    def close(self) -> None:
        import ray

        try:
            ray.get(self.handle.stop.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - a dead worker is stopped enough
            pass
        ray.kill(self.handle, no_restart=True)
