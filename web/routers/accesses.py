"""POST /accesses: a batch of access records, all or nothing."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from tiering.domain.records import RecordError, parse_record
from tiering.web.deps import ServicesDep, WriterDep

router = APIRouter(tags=["ingest"])
MAX_REPORTED_ERRORS = 50
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                f"body exceeds the limit of {limit} bytes")
    return bytes(body)


def _invalid(errors: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors)


def _decode(body: bytes, content_type: str) -> list[Any]:
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        items = []
        for line_no, line in enumerate(body.splitlines()):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise _invalid([{"index": len(items), "field": None,
                                 "reason": f"line {line_no + 1} is not JSON: {e.msg}"}]) from None
        return items
    try:
        items = json.loads(body or b"null")
    except json.JSONDecodeError as e:
        raise _invalid([{"index": None, "field": None,
                         "reason": f"body is not JSON: {e.msg} at char {e.pos}"}]) from None
    if not isinstance(items, list):
        raise _invalid([{"index": None, "field": None,
                         "reason": "expected a JSON array of records (or NDJSON)"}])
    return items


@router.post("/accesses", summary="Ingest a batch of access records (JSON array or NDJSON)",
             responses={413: {"description": "Batch or body over the limit"},
                        422: {"description": "A record is invalid; nothing was applied"}})
async def post_accesses(request: Request, services: ServicesDep, _: WriterDep,
                        materialize: Annotated[bool | None, Query(
                            description="Write each PUT's bytes (up to the materialize cap) to the "
                                        "object store. Default: yes when the stack has one "
                                        "(TIERING_INGEST_MATERIALIZE).")] = None) -> dict[str, Any]:
    settings = services.settings
    runtime = getattr(request.app.state, "movement", None)
    if materialize is None:
        materialize = runtime is not None and settings.ingest_materialize
    if materialize and runtime is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "materialize needs the movement runtime (object store), which is not running")
    port = runtime.ingest if materialize else services.ingest
    metrics = services.metrics
    body = await _read_body(request, settings.max_body_bytes)
    raws = _decode(body, request.headers.get("content-type", "application/json"))
    if len(raws) > settings.max_batch_records:
        metrics.batches.labels("too_large").inc()
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"batch of {len(raws)} records exceeds the limit of "
                            f"{settings.max_batch_records} records")
    records, errors = [], []
    for i, raw in enumerate(raws):
        try:
            records.append(parse_record(raw, i))
        except RecordError as e:
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(e.as_dict())
    if errors:
        metrics.batches.labels("rejected").inc()
        metrics.records.labels("rejected").inc(len(raws))
        raise _invalid(errors)
    if not records:
        return {"accepted": 0, "events": 0, "registered": 0, "ignored": 0}
    try:
        result = await port.aingest(records)
    except RecordError as e:  # a key the object store cannot name; checked before any write
        metrics.batches.labels("rejected").inc()
        raise _invalid([e.as_dict()]) from None
    metrics.batches.labels("accepted").inc()
    metrics.records.labels("accepted").inc(result.accepted)
    metrics.events.inc(result.events)
    return {"accepted": result.accepted, "events": result.events,
            "registered": result.registered, "ignored": result.ignored}
