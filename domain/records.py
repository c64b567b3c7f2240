"""Access records: the one shape every ingest path produces.

Validation lives here so that REST, trace replay and the synthetic producer
reject the same things with the same words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable, Mapping

DEFAULT_TENANT = "default"
MAX_KEY_BYTES = 1024
# Bounds that keep every figure within what the stores hold (64-bit integers
# in SQL): no event time after 2286-11-20 (10^10 s), no object above S3's
# 5 TiB, no latency above a day. A record outside them is refused at the door,
# never acknowledged and then stuck in a projection.
MAX_TS = 10_000_000_000.0
MAX_SIZE = 5 * 2**40
MAX_LATENCY_MS = 86_400_000.0
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELDS = ("ts", "tenant", "key", "op", "size", "latency_ms")


class Op(str, Enum):
    GET = "GET"
    PUT = "PUT"
    HEAD = "HEAD"
    DELETE = "DELETE"
    COPY = "COPY"


# Enum attribute access and Op(...) lookups are slow on Python 3.11, and ingest
# does both for every record; plain dicts do the same in a hash lookup.
OP_NAME: dict["Op", str] = {op: op.value for op in Op}
OP_BY_NAME: dict[str, "Op"] = {op.value: op for op in Op}


@dataclass(frozen=True, slots=True)
class AccessRecord:
    ts: float  # event time, epoch seconds (UTC)
    tenant: str
    key: str
    op: Op
    size: int | None  # object size in bytes as seen by the request
    latency_ms: float | None = None

    def as_tuple(self) -> tuple:
        return (self.ts, self.tenant, self.key, OP_NAME[self.op], self.size, self.latency_ms)


class RecordError(ValueError):
    """A record that cannot be accepted; says which record, which field and why."""

    def __init__(self, field: str, reason: str, index: int | None = None):
        self.field = field
        self.reason = reason
        self.index = index
        where = f"record {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


def parse_ts(value: Any) -> float:
    """ISO-8601 (naive means UTC) or epoch seconds, as int, float or string."""
    if isinstance(value, bool) or value is None:
        raise RecordError("ts", "required; ISO-8601 or epoch seconds")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:
            raise RecordError("ts", f"must be at most {MAX_TS:.0f} (2286-11-20)") from None
    elif isinstance(value, str):
        text = value.strip()[:64]
        try:
            ts = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise RecordError("ts", f"not ISO-8601 or epoch seconds: {value!r}") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            ts = parsed.timestamp()
    else:
        raise RecordError("ts", f"expected string or number, got {type(value).__name__}")
    if not math.isfinite(ts) or ts < 0 or ts > MAX_TS:
        raise RecordError("ts", f"must be a finite time from 1970-01-01 to 2286-11-20 ({MAX_TS:.0f}), "
                                f"got {str(value)[:40]!r}")
    return ts


def _parse_size(value: Any, op: Op) -> int | None:
    if value is None or value == "":
        if op is Op.PUT:
            raise RecordError("size", "required for PUT")
        return None
    if isinstance(value, bool):
        raise RecordError("size", "expected an integer number of bytes")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        value = int(value.strip())
    if not isinstance(value, int):
        raise RecordError("size", f"expected an integer number of bytes, got {str(value)[:40]!r}")
    if value < 0 or value > MAX_SIZE:
        raise RecordError("size", f"must be from 0 to {MAX_SIZE} (5 TiB), got {str(value)[:40]}")
    return value


def _parse_latency(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError("latency_ms", "expected a number")
    try:
        latency = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError("latency_ms", f"expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(latency) or latency < 0 or latency > MAX_LATENCY_MS:
        raise RecordError("latency_ms", f"must be from 0 to {MAX_LATENCY_MS:.0f} (a day), got {str(value)[:40]!r}")
    return latency


def parse_record(raw: Any, index: int | None = None) -> AccessRecord:
    """Validate one raw mapping into an AccessRecord, or raise RecordError."""
    try:
        if not isinstance(raw, Mapping):
            raise RecordError("record", f"expected an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise RecordError(unknown[0], f"unknown field; allowed: {', '.join(FIELDS)}")
        if "ts" not in raw:
            raise RecordError("ts", "required")
        ts = parse_ts(raw["ts"])
        tenant = raw.get("tenant")
        tenant = DEFAULT_TENANT if tenant in (None, "") else tenant
        if not isinstance(tenant, str) or not _TENANT_RE.match(tenant):
            raise RecordError("tenant", "1-64 characters of letters, digits, '.', '_' or '-'")
        key = raw.get("key")
        if not isinstance(key, str) or not key:
            raise RecordError("key", "required non-empty string")
        try:
            encoded = key.encode()
        except UnicodeEncodeError:  # a lone surrogate: JSON allows it, UTF-8 does not
            raise RecordError("key", "not valid Unicode (a lone surrogate)") from None
        if len(encoded) > MAX_KEY_BYTES or "\x00" in key:
            raise RecordError("key", f"at most {MAX_KEY_BYTES} bytes of UTF-8, no NUL")
        op_raw = raw.get("op")
        try:
            op = Op(str(op_raw).upper()) if op_raw is not None else None
        except ValueError:
            op = None
        if op is None:
            raise RecordError("op", f"must be one of {', '.join(o.value for o in Op)}, got {op_raw!r}")
        return AccessRecord(ts, tenant, key, op, _parse_size(raw.get("size"), op),
                            _parse_latency(raw.get("latency_ms")))
    except RecordError as err:
        err.index = index
        raise RecordError(err.field, err.reason, index) from None


def parse_batch(raws: Iterable[Any]) -> list[AccessRecord]:
    """All or nothing: the first bad record rejects the whole batch."""
    return [parse_record(raw, i) for i, raw in enumerate(raws)]
