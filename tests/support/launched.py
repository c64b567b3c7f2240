"""Starting ``tiering launch`` as a user would, and talking to it over HTTP
with its first admin key."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tiering.devstack._proc import port_is_free

BIN = Path(sys.executable).parent

# Every e2e call goes through this client; it carries the stack's key once known.
http = httpx.Client(timeout=30)


def use_admin_key(data_dir: Path) -> bool:
    """Present the admin key ``tiering launch`` wrote on its first start; False until it exists."""
    path = Path(data_dir) / "admin.key"
    try:
        key = path.read_text().strip()
    except OSError:
        return False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "the admin key must be the user's alone"
    http.headers["Authorization"] = f"Bearer {key}"
    return bool(key)


def free_port(*taken: int) -> int:
    """A free port below the kernel's ephemeral range (32768 and up here) and above Ray's
    worker ports (10002-19999): until ``tiering launch`` has bound it, the services it starts
    could otherwise take it, as an outgoing connection or a ``bind(0)`` pick (CI saw that)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        if port not in taken and port_is_free(port):
            return port
    raise AssertionError("no free port in 20000-32000")


def start_stack(tmp_path: Path, env: dict, log_name: str = "launch.log") -> subprocess.Popen:
    """``tiering launch`` in its own session, waited on until /health answers 200."""
    log = (tmp_path / log_name).open("w")
    proc = subprocess.Popen([str(BIN / "tiering"), "launch"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{env['TIERING_API_PORT']}"
    deadline = time.time() + 180
    while True:
        try:
            if use_admin_key(tmp_path / "var") and http.get(f"{url}/health", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.flush()
            raise AssertionError(f"launch did not come up:\n{(tmp_path / log_name).read_text()[-4000:]}")
        time.sleep(1)


def stack_env(tmp_path: Path) -> dict:
    port = free_port()
    # Every port this stack opens is its own: the dashboard's too, not the default 8050.
    return {**os.environ, "TIERING_DATA_DIR": str(tmp_path / "var"), "TIERING_API_PORT": str(port),
            "TIERING_DASHBOARD_PORT": str(free_port(port)), "TIERING_SHARDS": "2",
            "TIERING_SNAPSHOT_INTERVAL_S": "1", "RAY_AUTH_MODE": "token", "TIERING_RAY_ADDRESS": "local"}


def all_objects(url: str) -> dict[str, dict]:
    out, cursor = {}, None
    while True:
        params = {"limit": 1000, "include_deleted": "true", **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{url}/objects", params=params, timeout=30).json()
        out.update({o["key"]: o for o in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            return out
