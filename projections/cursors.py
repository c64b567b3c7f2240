"""Keyset-pagination cursors and key-prefix bounds for the read-model queries."""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_LIMIT = 1000


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise ValueError("malformed cursor") from None
    if not isinstance(values, list) or len(values) != n:
        raise ValueError("malformed cursor")
    return values


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix``."""
    while prefix and prefix[-1] == "\U0010ffff":
        prefix = prefix[:-1]
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None


def clamp_limit(limit: int, most: int = MAX_LIMIT) -> int:
    return max(1, min(int(limit), most))
