"""Every setting, from the environment or ``.env`` (prefix ``TIERING_``)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERING_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Where SQLite, logs and service state live.")
    database_url: str | None = Field(
        None, description="postgresql://user:pass@host:port/db; unset means SQLite under data_dir.")
    shards: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                        description="Number of shard actors; objects are hash-partitioned over them.")
    aggregate_cache_size: int = Field(200_000, ge=0, description="Cached objects per shard.")
    ray_address: str | None = Field(
        None, description="Ray cluster to join; unset tries 'auto' and falls back to a local Ray.")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_url: str | None = Field(None, description="Where CLI commands find the REST API.")
    api_token: str | None = Field(None, description="If set, write endpoints need 'Authorization: Bearer <token>'.")
    max_batch_records: int = Field(10_000, ge=1, description="Largest POST /accesses batch.")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest request body.")
    ingest_batch_size: int = Field(5_000, ge=1, description="Records per batch sent by replay and produce.")
    projection_poll_s: float = Field(0.2, gt=0, description="Projection runner poll interval.")
    projection_page: int = Field(2_000, ge=1, description="Notifications applied per transaction.")
    snapshot_interval_s: float = Field(10.0, gt=0, description="Metric snapshot period (wall time).")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        # Actors run in other processes, maybe other working directories.
        return Path(v).expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v and urlparse(v).scheme not in ("postgresql", "postgres", "sqlite"):
            raise ValueError("database_url must be postgresql://... or sqlite:///path")
        return v or None

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite"):
            return Path(urlparse(self.database_url).path)
        return self.data_dir / "tiering.sqlite"

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) and not self.database_url.startswith("sqlite")

    @cached_property
    def postgres(self) -> dict[str, str]:
        """Connection parts; a ``host=`` query names a Unix socket directory."""
        u = urlparse(self.database_url or "")
        query = {k: v[0] for k, v in parse_qs(u.query).items()}
        return {
            "host": query.get("host") or u.hostname or "localhost",
            "port": str(u.port or 5432),
            "user": unquote(u.username or "postgres"),
            "password": unquote(u.password or ""),
            "dbname": (u.path or "/postgres").lstrip("/") or "postgres",
        }

    def eventstore_env(self) -> dict[str, str]:
        """The eventsourcing library's environment for this store."""
        env = {"AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size)}
        if self.uses_postgres:
            pg = self.postgres
            env.update(PERSISTENCE_MODULE="eventsourcing.postgres", POSTGRES_DBNAME=pg["dbname"],
                       POSTGRES_HOST=pg["host"], POSTGRES_PORT=pg["port"],
                       POSTGRES_USER=pg["user"], POSTGRES_PASSWORD=pg["password"],
                       POSTGRES_POOL_SIZE="4", POSTGRES_MAX_OVERFLOW="4")
        else:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite",
                       SQLITE_DBNAME=str(self.sqlite_path.resolve()), SQLITE_LOCK_TIMEOUT="30")
        return env
