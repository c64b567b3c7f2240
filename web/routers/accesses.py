"""POST /accesses: a batch of access records, all or nothing."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from tiering.domain.governance import Principal
from tiering.services.errors import Busy, Invalid, TooLarge, invalid
from tiering.web.auth import Operator
from tiering.web.deps import Services, ServicesDep

router = APIRouter(tags=["ingest"])
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="The client's own key for this batch (up to 255 visible ASCII characters), "
                "kept per tenant. A retry with the same key and records applies nothing twice "
                "and answers as the first attempt did, with `Idempotent-Replayed: true`; the "
                "same key with other records is a 409.")]
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"body exceeds the limit of {limit} bytes")
    return bytes(body)


def _loads(text: bytes) -> Any:
    """JSON, or ValueError saying why not: bad UTF-8 and runaway nesting included."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{e.msg} at char {e.pos}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _decode(body: bytes, content_type: str) -> list[Any]:
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        items = []
        for line_no, line in enumerate(body.splitlines()):
            if not line.strip():
                continue
            try:
                items.append(_loads(line))
            except ValueError as e:
                raise Invalid([{"index": len(items), "field": "body",
                                "reason": f"line {line_no + 1} is not JSON: {e}"}]) from None
        return items
    try:
        items = _loads(body or b"null")
    except ValueError as e:
        raise invalid("body", f"not JSON: {e}") from None
    if not isinstance(items, list):
        raise invalid("body", "expected a JSON array of records (or NDJSON)")
    return items


@router.post("/accesses", summary="Ingest a batch of access records (JSON array or NDJSON)",
             responses={413: {"description": "Batch or body over the limit"},
                        409: {"description": "The Idempotency-Key was used for other records"},
                        422: {"description": "A record is invalid; nothing was applied"}})
async def post_accesses(who: Operator, request: Request, response: Response, services: ServicesDep,
                        idempotency_key: IdempotencyKey = None,
                        materialize: Annotated[bool | None, Query(
                            description="Write each PUT's bytes (up to the materialize cap) to the "
                                        "object store. Default: yes when the stack has one "
                                        "(TIERING_INGEST_MATERIALIZE).")] = None) -> dict[str, Any]:
    return await ingest_body(request, services, materialize, who, idempotency_key, response)


async def ingest_body(request: Request, services: Services, materialize: bool | None,
                      who: Principal, idempotency_key: str | None = None,
                      response: Response | None = None) -> dict[str, Any]:
    """Read, decode and ingest a request's records, counting the outcome."""
    batches, records = services.metrics.batches, services.metrics.records
    limit = services.settings.max_body_bytes
    try:
        weight = min(limit, max(0, int(request.headers.get("content-length", limit))))
    except ValueError:
        weight = limit  # _read_body refuses it
    raws: list[Any] = []
    try:
        with services.ingest.admission.admit(weight):
            raws = _decode(await _read_body(request, limit), request.headers.get("content-type", "application/json"))
            result = await services.ingest(raws, materialize, who, idempotency_key)
    except Busy:
        batches.labels("busy").inc()
        raise
    except TooLarge:
        batches.labels("too_large").inc()
        raise
    except Invalid:
        batches.labels("rejected").inc()
        records.labels("rejected").inc(len(raws))
        raise
    if result.pop("replayed", None):
        if response is not None:
            response.headers["Idempotent-Replayed"] = "true"
        batches.labels("replayed").inc()  # its records were counted the first time
        return result
    services.metrics.count_accepted(result["accepted"], result["events"])
    return result
