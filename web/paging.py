"""The answer of every cursor-paginated list: items and the next cursor."""

from __future__ import annotations

from typing import Any, Callable

from tiering.services.errors import invalid


def keyset_page(list_page: Callable[..., tuple[list[dict], str | None]], **filters: Any) -> dict[str, Any]:
    """``list_page(**filters)`` as ``{"items", "next_cursor"}``; a cursor that
    we did not issue is a 422 naming the field."""
    try:
        items, next_cursor = list_page(**filters)
    except ValueError as e:
        raise invalid("cursor", str(e)) from None
    return {"items": items, "next_cursor": next_cursor}
