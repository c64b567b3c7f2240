"""The API in-process, over the services a test builds."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tiering.config import Settings
from tiering.services.job_runners import InProcessJobRunner
from tiering.web.app import create_app
from tiering.web.deps import Services


def api_client(settings: Settings | None = None, services: Services | None = None, **fields: Any) -> TestClient:
    """A client of the whole app (error handlers, middleware); ``fields`` go
    to ``Services`` (jobs run on a thread: the fake of the job runner port)."""
    if services is None:
        fields.setdefault("job_runner", InProcessJobRunner())
        services = Services(settings=settings or Settings(), **fields)
    return TestClient(create_app(services))


def drain_jobs(client: TestClient) -> None:
    """Wait until every job queued so far has finished."""
    client.app.state.services.job_runner.drain()
