"""A small client for the REST API, used by replay-trace and produce."""

from __future__ import annotations

from typing import Any, Sequence

import httpx

from tiering.domain.records import AccessRecord


class ApiError(RuntimeError):
    pass


def record_json(r: AccessRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": r.ts, "tenant": r.tenant, "key": r.key, "op": r.op.value}
    if r.size is not None:
        out["size"] = r.size
    if r.latency_ms is not None:
        out["latency_ms"] = r.latency_ms
    return out


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 120.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)

    def post_batch(self, records: Sequence[AccessRecord],
                   materialize: bool | None = None) -> dict[str, Any]:
        """``materialize`` None leaves it to the server's default."""
        params = {} if materialize is None else {"materialize": str(materialize).lower()}
        try:
            resp = self.http.post("/accesses", json=[record_json(r) for r in records], params=params)
        except httpx.HTTPError as e:
            raise ApiError(f"cannot reach the API at {self.http.base_url}: {e}") from e
        if resp.status_code != 200:
            raise ApiError(f"API answered {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.http.close()
