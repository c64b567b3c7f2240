"""Every setting, from the environment or ``.env`` (prefix ``TIERING_``)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def kafka_sasl_options(user: str | None, password: str | None) -> dict[str, str]:
    """aiokafka keyword arguments that log in as ``user`` with SASL/PLAIN (none without a user)."""
    if not user:
        return {}
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user, "sasl_plain_password": password or ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERING_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Where SQLite, logs and service state live.")
    database_url: str | None = Field(
        None, description="postgresql://user:pass@host:port/db; unset means SQLite under data_dir.")
    shards: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                        description="Number of shard actors; objects are hash-partitioned over them.")
    aggregate_cache_size: int = Field(200_000, ge=0, description="Cached objects per shard.")
    sqlite_cache_mb: int = Field(64, ge=1, description="SQLite page cache per event-store "
                                 "connection, in MiB (SQLite's default is 2).")
    ray_address: str | None = Field(
        None, description="Ray cluster to join: host:port, or 'auto' for the one `ray start` "
        "made on this host; unset starts a Ray of this stack's own and joins nothing.")
    instance_id: str | None = Field(
        None, description="This deployment's id; launch reads it from the event store "
        "(its actors' Ray namespace derives from it). Not set by hand.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of the launch process's and every actor's log; other libraries "
        "log at WARNING and above unless this is DEBUG.")
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per record; json: one JSON object per line "
        "(ts, level, logger, component, message, exc).")
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_url: str | None = Field(None, description="Where CLI commands find the REST API.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names the API answers to besides localhost, 127.0.0.1, ::1 and api_host (JSON list; '*.example.com' allowed); any other Host header gets 400.")
    api_key: str | None = Field(None, description="The API key CLI commands present; unset reads "
                                "data_dir/admin.key, the first admin key, when this user can.")
    max_batch_records: int = Field(10_000, ge=1, description="Largest POST /accesses batch.")
    ingest_max_in_flight_bytes: int = Field(
        128 * 1024, ge=1, description="Request-body bytes the API ingests at once; a request beyond "
                                      "gets 429 with Retry-After (a larger body is taken when it is alone).")
    ingest_coalesce_ms: float = Field(
        2.0, ge=0, le=1000, description="Group commit: concurrent POST /accesses requests' records for one "
                                        "shard wait up to this long to be recorded together (0: each alone).")
    ingest_coalesce_records: int = Field(
        5_000, ge=1, description="Group commit: a shard's group is sent at once when this many records wait.")
    ingest_max_in_flight_requests: int = Field(
        64, ge=1, description="Ingest requests the API serves at once; one more gets 429 with Retry-After.")
    incident_poll_s: float = Field(5.0, gt=0, description="How often the logs, health checks and projection "
                                   "lag are looked at for incidents (webhooks).")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_trace_bytes: int = Field(256 * 2**20, ge=1, description="Largest trace a retrain or what-if "
                                 "job reads, and largest trace upload.")
    ingest_batch_size: int = Field(5_000, ge=1, description="Records per batch sent by replay and produce.")
    projection_poll_s: float = Field(0.2, gt=0, description="Projection runner poll interval.")
    projection_page: int = Field(2_000, ge=1, description="Notifications applied per transaction.")
    snapshot_interval_s: float = Field(10.0, gt=0, description="Metric snapshot period (wall time).")
    # ----- dashboard: Panel, on its own port beside the API -----
    dashboard_port: int = Field(8050, ge=0, le=65535, description="Dashboard port; 0 turns it off.")
    dashboard_host: str | None = Field(None, description="Dashboard address; unset uses api_host.")
    dashboard_refresh_s: float = Field(2.0, gt=0, description="How often an open dashboard refreshes.")
    dashboard_origins: list[str] = Field(
        default_factory=list, description="Extra host:port names browsers may reach it by.")

    # ----- moves: object store, decision bus, movers, reconciler -----
    s3_endpoint: str | None = Field(
        None, description="host:port or URL of the S3 server; unset starts an embedded SeaweedFS.")
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_secure: bool = Field(False, description="HTTPS to the S3 endpoint (a https:// URL implies it).")
    s3_region: str = "us-east-1"
    bucket_hot: str = Field("hot", min_length=3, max_length=63)
    bucket_warm: str = Field("warm", min_length=3, max_length=63)
    bucket_cold: str = Field("cold", min_length=3, max_length=63)
    ingest_materialize: bool = Field(
        True, description="POST /accesses (and the launch producer) write each PUT's bytes when an object store is running; ?materialize=false opts a batch out.")
    ingest_ts_ahead_days: int = Field(
        366, ge=0, description="Days a record's ts may be ahead of its tenant's event clock; a tenant's ts_ahead_days quota overrides it.")
    ingest_ts_behind_days: int = Field(
        3660, ge=0, description="Days a record's ts may be behind its tenant's event clock; a tenant's ts_behind_days quota overrides it.")
    materialize_cap_bytes: int = Field(
        8 * 2**20, ge=0, description="Most bytes written for one object; the log keeps the logical size.")
    kafka_bootstrap: str | None = Field(
        None, description="Kafka bootstrap servers; unset uses the in-process decision bus.")
    kafka_sasl_username: str | None = Field(None, description="Kafka SASL/PLAIN user; unset connects without SASL.")
    kafka_sasl_password: str | None = Field(None, description="Kafka SASL/PLAIN password.")
    embedded_kafka: bool = Field(
        True, description="With no TIERING_KAFKA_BOOTSTRAP, tiering launch runs a local Kafka broker "
                          "(SASL on, loopback only) for the decision bus when Java 17+ and Maven are "
                          "here; false keeps the in-process bus.")
    kafka_topic_prefix: str = Field("", description="Prefix for the tiering.* topics and the group.")
    kafka_partitions: int = Field(8, ge=1, description="Partitions of tiering.decisions when created.")
    movers: int = Field(2, ge=1, description="Mover actors.")
    mover_concurrency: int = Field(32, ge=1, description="Moves in flight per mover (more in flight, bigger group commits).")
    mover_copy_budget_bytes: int = Field(
        128 * 2**20, ge=1, description="Bytes of server-side copies one mover has in flight at most.")
    move_attempts: int = Field(8, ge=1, description="Tries per move before it is dead-lettered and failed.")
    move_backoff_s: float = Field(0.5, gt=0, description="First retry delay; doubles per attempt.")
    move_backoff_max_s: float = Field(10.0, gt=0, description="Longest retry delay.")
    reconcile_interval_s: float = Field(30.0, gt=0, description="Reconciler period (it also runs on start).")
    autopilot: bool = Field(True, description="Run the decision loop (policy 'ours': the newest registered model, else its rule fallback).")
    # domain.vocabulary.AutopilotMode, restated: settings sit below the domain (a test keeps them equal)
    autopilot_mode: Literal["auto", "paused", "approval"] = Field("auto",
                                description="Mode at first start (auto, paused = dry run, approval); PUT /autopilot changes it and it is kept in the event store.")
    decide_every_s: float = Field(86_400.0, gt=0, description="Event time between decision rounds.")
    autopilot_poll_s: float = Field(5.0, gt=0, description="How often (wall time) the loop checks event time and sweeps for promotions on access.")
    decide_max_objects: int = Field(100_000, ge=1, description="Objects considered per round (the next round resumes after them).")
    predictors: int = Field(2, ge=1, description="Predictor actors scoring feature batches.")
    age_rule: bool = Field(False, description="Also run the plain age rule (before the autopilot, the only automatic decider).")
    age_rule_interval_s: float = Field(60.0, gt=0, description="Age rule period.")
    age_warm_after_s: float = Field(30 * 86400, gt=0, description="Idle time after which hot moves to warm.")
    age_cold_after_s: float = Field(90 * 86400, gt=0, description="Idle time after which warm moves to cold.")
    age_rule_max_moves: int = Field(200, ge=1, description="Most moves the age rule decides per run.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

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

    @model_validator(mode="after")
    def _ports_apart(self) -> "Settings":
        # Both are bound beside each other at launch, so a clash would surface only later.
        if self.dashboard_port == self.api_port and self.resolved_dashboard_host == self.api_host:
            raise ValueError(f"dashboard_port {self.dashboard_port} is the API's port; choose another")
        return self

    @property
    def resolved_dashboard_host(self) -> str:
        return self.dashboard_host or self.api_host

    @property
    def resolved_allowed_hosts(self) -> list[str]:
        """The Host names the API answers to: loopback, its own address, and the configured ones."""
        hosts = ["localhost", "127.0.0.1", "::1", "[::1]", *self.allowed_hosts]
        if self.api_host not in ("0.0.0.0", "::", ""):  # a wildcard bind is no name to be reached by
            hosts.append(self.api_host)
        return hosts

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def governance_path(self) -> Path:
        """The SQLite file of keys and operator actions (on PostgreSQL: a table)."""
        return self.data_dir / "governance.sqlite"

    @property
    def admin_key_path(self) -> Path:
        return self.data_dir / "admin.key"

    def client_key(self) -> str | None:
        """The key a CLI command presents: ``api_key``, else the first admin key's file."""
        if self.api_key:
            return self.api_key
        try:
            return self.admin_key_path.read_text().strip() or None
        except OSError:
            return None

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite"):
            return Path(urlparse(self.database_url).path)
        return self.data_dir / "tiering.sqlite"

    @property
    def kafka_auth(self) -> dict[str, str]:
        """aiokafka keyword arguments for the configured SASL user (none without one)."""
        return kafka_sasl_options(self.kafka_sasl_username, self.kafka_sasl_password)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None and not self.database_url.startswith("sqlite")

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
                       POSTGRES_POOL_SIZE="4", POSTGRES_MAX_OVERFLOW="4",
                       # An insert waiting on the table lock longer than this
                       # fails instead of hanging; ingest retries it by batch id.
                       POSTGRES_LOCK_TIMEOUT="15")
        else:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite",
                       SQLITE_DBNAME=str(self.sqlite_path.resolve()), SQLITE_LOCK_TIMEOUT="30",
                       SQLITE_CACHE_MB=str(self.sqlite_cache_mb))
        return env
