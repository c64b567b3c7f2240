"""A small client for the REST API, used by replay-trace, produce and import-bucket.

Writes are retried: a connection that cannot be made, or an answer of 429,
502, 503 or 504, is tried again after the server's ``Retry-After`` (else a
growing backoff) until ``retry_for_s`` has passed. A batch of records carries
an ``Idempotency-Key`` of its own, the same on every attempt, so it is also
retried when its answer is lost: a retry of a batch the server had applied
applies nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any, Sequence

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tiering.domain.records import AccessRecord

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


class ApiError(RuntimeError):
    pass


class _TryAgain(Exception):
    """A failed attempt worth repeating, and how long the server asked us to wait."""

    def __init__(self, message: str, after_s: float | None = None):
        super().__init__(message)
        self.after_s = after_s


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(resp.headers["retry-after"])))
    except (KeyError, ValueError):
        return None


class _WaitAsAsked:
    """The server's Retry-After when it gave one, else exponential backoff."""

    def __init__(self) -> None:
        self.backoff = wait_exponential(multiplier=0.5, min=0.5, max=8)

    def __call__(self, state: Any) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _TryAgain) and error.after_s is not None:
            return error.after_s
        return self.backoff(state)


def record_json(r: AccessRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": r.ts, "tenant": r.tenant, "key": r.key, "op": r.op.value}
    if r.size is not None:
        out["size"] = r.size
    if r.latency_ms is not None:
        out["latency_ms"] = r.latency_ms
    return out


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 120.0,
                 retry_for_s: float = 300.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)
        self.retry_for_s = retry_for_s

    def post(self, path: str, body: Any, params: dict[str, str] | None = None,
             idempotency_key: str | None = None) -> Any:
        """POST ``body`` as JSON, retried as the module says; the answer's JSON."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        retrying = Retrying(retry=retry_if_exception_type(_TryAgain), stop=stop_after_delay(self.retry_for_s),
                            wait=_WaitAsAsked(), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._post_once(path, body, params or {}, headers)
        except _TryAgain as e:
            raise ApiError(f"{e} (still failing after {self.retry_for_s:g} s of retries)") from None
        raise AssertionError("unreachable: the last failure is re-raised")

    def _post_once(self, path: str, body: Any, params: dict[str, str], headers: dict[str, str]) -> Any:
        try:
            resp = self.http.post(path, json=body, params=params, headers=headers)
        except httpx.TransportError as e:
            message = f"cannot reach the API at {self.http.base_url}: {e}"
            if headers.get("Idempotency-Key") or isinstance(e, httpx.ConnectError):
                raise _TryAgain(message) from e
            # The request may have been applied and its answer lost: only an
            # idempotent request can be sent again without counting twice.
            raise ApiError(message) from e
        if resp.status_code in RETRY_STATUSES:
            raise _TryAgain(f"API answered {resp.status_code}: {resp.text[:200]}", _retry_after(resp))
        if resp.status_code != 200:
            raise ApiError(f"API answered {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def post_batch(self, records: Sequence[AccessRecord],
                   materialize: bool | None = None, path: str = "/accesses") -> dict[str, Any]:
        """``materialize`` None leaves it to the server's default. One idempotency key
        per batch, kept across its retries."""
        params = {} if materialize is None else {"materialize": str(materialize).lower()}
        return self.post(path, [record_json(r) for r in records], params, idempotency_key=uuid.uuid4().hex)

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.http.close()
