"""Talking to a launched stack over HTTP with its first admin key."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

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
