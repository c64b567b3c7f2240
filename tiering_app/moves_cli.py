"""The moves side of two CLI commands, over the REST API like the others.

``replay-trace --materialize`` posts to ``/accesses/materialize`` instead of
``/accesses``; ``import-bucket`` walks a bucket page by page via ``/imports``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tiering.app.client import ApiClient
from tiering.domain.records import AccessRecord


def _post(client: ApiClient, path: str, body: Any) -> dict[str, Any]:
    return client.post(path, body)


def materializing_post(client: ApiClient) -> Callable[[Sequence[AccessRecord]], dict[str, Any]]:
    """``client.post_batch``, but the server also writes each object's bytes."""
    return lambda records: client.post_batch(records, path="/accesses/materialize")


def import_bucket(client: ApiClient, bucket: str, tenant: str, prefix: str, page: int,
                  on_page: Callable[[dict[str, Any]], None] = lambda totals: None) -> dict[str, Any]:
    """Register every object under ``prefix`` in ``bucket``; returns totals."""
    totals: dict[str, Any] = {"imported": 0, "events": 0, "skipped": []}
    after = None
    while True:
        got = _post(client, "/imports", {"bucket": bucket, "tenant": tenant, "prefix": prefix,
                                         "start_after": after, "limit": page})
        totals["imported"] += got["imported"]
        totals["events"] += got["events"]
        totals["skipped"] += got["skipped"]
        on_page(totals)
        after = got["next"]
        if after is None:
            return totals
