"""The API in-process, over the services a test builds, called with a key."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tiering.config import Settings
from tiering.domain.governance import ALL_TENANTS, Principal, Role
from tiering.services.job_runners import InProcessJobRunner
from tiering.web.app import create_app
from tiering.web.deps import Services

TEST_ADMIN = Principal("test", "test-admin", ALL_TENANTS, Role.ADMIN)


def issue_key(services: Services, tenant: str = ALL_TENANTS, role: Role | str = Role.ADMIN,
              name: str = "tester", expires_in_s: float | None = None) -> str:
    """A new key's secret, as ``POST /keys`` would hand it over."""
    return services.access.issue(TEST_ADMIN, tenant, Role(role), name, expires_in_s)["key"]


def authorized(client: TestClient, tenant: str = ALL_TENANTS, role: Role | str = Role.ADMIN) -> TestClient:
    """``client`` presenting a fresh key of ``tenant`` and ``role`` on every call."""
    key = issue_key(client.app.state.services, tenant, role)
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def api_client(settings: Settings | None = None, services: Services | None = None,
               raise_server_exceptions: bool = True, **fields: Any) -> TestClient:
    """A client of the whole app (error handlers, middleware) with an admin key
    of all tenants; ``fields`` go to ``Services`` (jobs run on a thread: the
    fake of the job runner port)."""
    if services is None:
        fields.setdefault("job_runner", InProcessJobRunner())
        services = Services(settings=settings or Settings(), **fields)
    return authorized(TestClient(create_app(services), raise_server_exceptions=raise_server_exceptions))


def drain_jobs(client: TestClient) -> None:
    """Wait until every job queued so far has finished."""
    client.app.state.services.job_runner.drain()
