"""Parsers for the logs users' buckets already write: S3 server access logs
and MinIO audit logs.

Both carry absolute event times (kept as they are) and name a bucket and a
key; a record's key is ``bucket/key`` so that a log of several buckets keeps
their objects apart. Only object accesses become records: bucket-level
operations (listings, ACLs, uploads' parts) and failed requests (a status
other than 2xx or 304) are not accesses and are passed over; a line that
cannot be read at all is a ``BadLine``.

- ``s3-access``: one line per request, space separated, ``[time]`` and
  ``"quoted"`` fields (docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html).
- ``minio-audit``: one JSON object per line, as MinIO's audit webhook or
  Kafka target sends them (``time``, ``api.name``, ``api.bucket``,
  ``api.object``, ``api.statusCode``, ``api.rx``/``api.tx``, the
  ``Content-Length`` headers, ``api.timeToResponse``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator
from urllib.parse import unquote

from tiering.domain.records import AccessRecord, Op

from .formats import Context, Item, bad, key_problem

# ----- S3 server access logs ---------------------------------------------------

_S3_TOKEN = re.compile(r'\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+')
S3_OPS = {
    "REST.GET.OBJECT": Op.GET,
    "REST.PUT.OBJECT": Op.PUT,
    "REST.HEAD.OBJECT": Op.HEAD,
    "REST.DELETE.OBJECT": Op.DELETE,
    "REST.COPY.OBJECT": Op.PUT,  # the copy's destination is written
    "REST.COPY.OBJECT_GET": Op.GET,  # and its source read
    "REST.COPY.PART_GET": Op.GET,
    "REST.POST.UPLOAD": Op.PUT,  # a completed multipart upload (with ?uploadId=)
}
_S3_MIN_FIELDS = 14  # up to total_time: older logs end soon after it


@lru_cache(maxsize=4096)
def _s3_time(text: str) -> float:
    """``06/Feb/2019:00:00:38 +0000``; a log repeats each second many times."""
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()


def _int_or_none(text: str) -> int | None:
    return None if text == "-" else int(text)


def _succeeded(status: int) -> bool:
    return 200 <= status < 300 or status == 304


def _object_record(no: int, line: str, ts: float, ctx: Context, key: str, op: Op, size: int | None,
                   latency_ms: float | None) -> Item:
    problem = key_problem(key)
    if problem:
        return bad(no, line, problem)
    if op is Op.PUT and size is None:
        return bad(no, line, "size: required for PUT")
    if size is not None and size < 0:
        return bad(no, line, f"size: must be >= 0, got {size}")
    return AccessRecord(ts, ctx.tenant, key, op, size, latency_ms)


def parse_s3_access(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        f = _S3_TOKEN.findall(line)
        if len(f) < _S3_MIN_FIELDS or not f[2].startswith("["):
            yield bad(no, line, f"expected an S3 server access log line (at least {_S3_MIN_FIELDS} fields, "
                                f"the third a [time]), got {len(f)} fields")
            continue
        op = S3_OPS.get(f[6])
        if op is None or f[7] == "-":
            continue  # not an object access
        if f[6] == "REST.POST.UPLOAD" and "uploadId=" not in f[8]:
            continue  # a multipart upload begun, not completed
        try:
            status = int(f[9])
        except ValueError:
            yield bad(no, line, f"http_status: not a number: {f[9][:20]!r}")
            continue
        if not _succeeded(status):
            continue
        try:
            ts = _s3_time(f[2][1:-1])
        except ValueError:
            yield bad(no, line, f"ts: not a [dd/Mon/yyyy:HH:MM:SS +zzzz] time: {f[2][:40]!r}")
            continue
        try:
            size = _int_or_none(f[12])
            if size is None and op is not Op.DELETE:
                size = _int_or_none(f[11])  # bytes sent, when the object's size is not logged
            latency = _int_or_none(f[13])
        except ValueError:
            yield bad(no, line, "size: object_size, bytes_sent and total_time must be integers or '-'")
            continue
        yield _object_record(no, line, ts, ctx, f"{f[1]}/{unquote(f[7])}", op, size,
                             None if latency is None else float(latency))


# ----- MinIO audit logs ----------------------------------------------------------

MINIO_OPS = {
    "GetObject": Op.GET,
    "PutObject": Op.PUT,
    "HeadObject": Op.HEAD,
    "DeleteObject": Op.DELETE,
    "CopyObject": Op.PUT,
    "CompleteMultipartUpload": Op.PUT,
    "PostPolicyBucket": Op.PUT,  # a browser upload (POST policy)
    "SelectObjectContent": Op.GET,
}
_FRACTION = re.compile(r"(\.\d{6})\d+")
_DURATION = re.compile(r"^([0-9.]+)(ns|µs|us|ms|s)$")
_DURATION_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}


def _iso_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Python reads microseconds)."""
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00"))).timestamp()


def _duration_ms(value: Any) -> float | None:
    m = _DURATION.match(value) if isinstance(value, str) else None
    return float(m.group(1)) * _DURATION_MS[m.group(2)] if m else None


def _length(headers: Any) -> int | None:
    if isinstance(headers, dict):
        value = headers.get("Content-Length")
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _minio_size(op: Op, entry: dict, api: dict) -> int | None:
    if op is Op.DELETE:
        return None
    if op is Op.PUT:
        size = _length(entry.get("requestHeader"))
        return size if size is not None else api.get("rx")
    size = _length(entry.get("responseHeader"))
    return size if size is not None else api.get("tx")


def parse_minio_audit(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            yield bad(no, line, "expected one MinIO audit entry (a JSON object) per line")
            continue
        api = entry.get("api") if isinstance(entry, dict) else None
        if not isinstance(api, dict) or not isinstance(entry.get("time"), str):
            yield bad(no, line, "expected a MinIO audit entry with 'time' and an 'api' object")
            continue
        op = MINIO_OPS.get(api.get("name"))
        bucket, key = api.get("bucket"), api.get("object")
        if op is None or not isinstance(bucket, str) or not isinstance(key, str) or not key:
            continue  # not an object access
        status = api.get("statusCode")
        if isinstance(status, int) and not _succeeded(status):
            continue
        try:
            ts = _iso_time(entry["time"])
        except ValueError:
            yield bad(no, line, f"ts: not an RFC 3339 time: {entry['time'][:40]!r}")
            continue
        if not math.isfinite(ts):
            yield bad(no, line, "ts: must be finite")
            continue
        size = _minio_size(op, entry, api)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            yield bad(no, line, "size: api.rx/api.tx must be integers")
            continue
        yield _object_record(no, line, ts, ctx, f"{bucket}/{key}", op, size,
                             _duration_ms(api.get("timeToResponse")))
