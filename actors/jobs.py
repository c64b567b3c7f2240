"""Long jobs (training, what-if evaluations) off the API process.

``JobTable`` runs callables one at a time on a worker thread and keeps each
job's status, stage and progress; ``job_worker_class`` wraps one in a Ray
actor, which is where jobs run in a launched stack. A job's error is shown to
callers only if its type is one of ``public_errors`` (messages written never
to quote what the job read); any other failure is logged and the caller gets
a reference to the server log.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]
Work = Callable[[Any, Progress], dict[str, Any]]


class JobTable:
    def __init__(self, work: Work, public_errors: tuple[type[BaseException], ...] = (),
                 max_queued: int = 16):
        self.work = work
        self.public_errors = public_errors
        self.max_queued = max_queued
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")

    def submit(self, job_id: str, kind: str, request: dict[str, Any], spec: Any) -> dict[str, Any] | None:
        """Queue a job; None when ``max_queued`` jobs are already waiting or running."""
        with self._lock:
            if self.unfinished() >= self.max_queued:
                return None
            self.jobs[job_id] = {"id": job_id, "job_id": job_id, "kind": kind, "status": "queued",
                                 "stage": "queued", "progress": 0.0, "request": request}
        self._pool.submit(self._run, job_id, spec)
        return dict(self.jobs[job_id])

    def get(self, job_id: str) -> dict[str, Any] | None:
        found = self.jobs.get(job_id)
        return dict(found) if found is not None else None

    def unfinished(self) -> int:
        return sum(j["status"] in ("queued", "running") for j in list(self.jobs.values()))

    def drain(self) -> None:
        """Wait until every job queued so far has finished."""
        self._pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        """Drop queued jobs; a running one finishes in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job_id: str, spec: Any) -> None:
        job = self.jobs[job_id]

        def say(stage: str, fraction: float) -> None:
            job.update(stage=stage, progress=round(min(1.0, max(0.0, fraction)), 3))

        job["status"] = "running"
        try:
            job.update(status="succeeded", progress=1.0, **self.work(spec, say))
        except self.public_errors as e:  # written for callers: never the file's contents
            job.update(status="failed", error=str(e))
        except Exception:  # noqa: BLE001 - reported on the job, details in the server log only
            # Any other message may quote what the job read (a parser's or a
            # library's), so the caller gets a reference, not the text.
            log.exception("job %s (%s) failed", job_id, job["kind"])
            job.update(status="failed", error=(f"{job['kind']} failed on an internal error; "
                                               f"the server log has the details under job {job_id}"))


class JobWorker:
    """A ``JobTable`` in its own process: training never shares the API's."""

    def __init__(self, work: Work, public_errors: tuple[type[BaseException], ...] = (),
                 max_queued: int = 16):
        self.table = JobTable(work, public_errors, max_queued)

    def submit(self, job_id: str, kind: str, request: dict[str, Any], spec: Any) -> dict[str, Any] | None:
        return self.table.submit(job_id, kind, request, spec)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self.table.get(job_id)

    def unfinished(self) -> int:
        return self.table.unfinished()

    def drain(self) -> None:
        self.table.drain()

    def stop(self) -> None:
        self.table.shutdown()


def job_worker_class():
    """The Ray actor class; threaded, so status reads answer while a job runs."""
    import ray

    return ray.remote(num_cpus=0, max_concurrency=4)(JobWorker)
