"""The code passes its own checks: ruff, import-linter's layers contract
(``.importlinter``: config < domain < ml, adapters, ingest, devstack <
projections < actors < simulation < services < web < app, no cycle between
packages) and mypy on the domain, the settings and the service layer."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.layout import ROOT, installed_layout

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return installed_layout(tmp_path_factory.mktemp("layout"))


def run(args, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})


def test_ruff():
    done = run([BIN / "ruff", "check", ROOT], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_layers_contract_holds(layout):
    done = run([BIN / "lint-imports", ROOT / ".importlinter", "--no-cache"], layout,
               PYTHONPATH=str(layout))
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout + done.stderr


def test_mypy_on_the_domain_and_the_service_layer(layout):
    done = run([BIN / "mypy", "-p", "tiering.domain", "-p", "tiering.config", "-p", "tiering.services",
                "--ignore-missing-imports", "--follow-imports", "silent", "--no-incremental",
                "--python-version", "3.11"],
               layout, MYPYPATH=str(layout))
    assert done.returncode == 0, done.stdout + done.stderr
