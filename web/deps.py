"""Dependencies: what a route may use, injected with ``Annotated``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from fastapi import Depends, Header, HTTPException, Request, status

from tiering.config import Settings


@dataclass
class Services:
    """Everything the API talks to; built by the composition root."""

    settings: Settings
    ingest: Any  # actors.ingest.IngestPort
    read_models: Any  # projections.queries.ReadModels
    health_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    metrics: Any = None  # web.metrics.ApiMetrics
    lag: Callable[[], int] | None = None  # events recorded but not yet projected
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_writer(settings: SettingsDep,
                   authorization: Annotated[str | None, Header()] = None) -> None:
    """Write endpoints need the bearer token when one is configured."""
    if not settings.api_token:
        return
    expected = f"Bearer {settings.api_token}"
    if authorization is None or not secrets.compare_digest(authorization, expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


WriterDep = Annotated[None, Depends(require_writer)]
