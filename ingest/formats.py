"""Line parsers for the fixed trace formats: ibm-cos and the block traces.

Each parser takes an iterable of text lines and a :class:`Context` and yields
``AccessRecord`` for good lines and ``BadLine`` for bad ones, never raising
for a bad line. Records are built directly (not through ``parse_record``) for
speed, after the same checks ``domain.records`` applies; reasons use the same
``field: reason`` wording as ``RecordError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from tiering.domain.records import MAX_KEY_BYTES, AccessRecord, Op

# Windows FILETIME counts 100 ns ticks since 1601-01-01; this many to 1970.
FILETIME_UNIX_EPOCH = 116_444_736_000_000_000
TICKS_PER_S = 10_000_000


@dataclass(frozen=True, slots=True)
class BadLine:
    """A trace line that could not become a record: where, what, and why."""

    line_no: int  # 1-based physical line number in the file (header is line 1)
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Context:
    tenant: str
    base_time: float
    lbn_grain: int
    block_size: int
    rel_origin: float | None  # trace-time origin in seconds; None = first good record


class TraceError(ValueError):
    """A trace (or its name) that cannot be used, in words safe to show any
    caller: the message never quotes the file's contents."""


Item = AccessRecord | BadLine
_MAX_TEXT = 500


def bad(line_no: int, line: str, reason: str) -> BadLine:
    text = line.rstrip("\r\n")
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return BadLine(line_no, text, reason)


def key_problem(key: str) -> str | None:
    """Mirror of domain.records' key rule; None when the key is fine."""
    if not key:
        return "key: required non-empty string"
    if "\x00" in key:
        return f"key: at most {MAX_KEY_BYTES} bytes of UTF-8, no NUL"
    if len(key) * 4 > MAX_KEY_BYTES or not key.isascii():
        try:
            if len(key.encode()) > MAX_KEY_BYTES:
                return f"key: at most {MAX_KEY_BYTES} bytes of UTF-8, no NUL"
        except UnicodeEncodeError:
            return "key: not valid UTF-8"
    return None


def _is_header(first_field: str) -> bool:
    text = first_field.strip()
    return not (text[:1].isdigit() or text[:1] in "+-.")


class _Rebase:
    """Maps relative trace seconds onto ``base_time``; origin = first good record."""

    __slots__ = ("base", "origin")

    def __init__(self, ctx: Context):
        self.base = ctx.base_time
        self.origin = ctx.rel_origin

    def __call__(self, seconds: float) -> float:
        if self.origin is None:
            self.origin = seconds
        return self.base + (seconds - self.origin)


# ----- IBM Cloud Object Storage ---------------------------------------------

IBM_OPS = {
    "REST.GET.OBJECT": Op.GET,
    "REST.PUT.OBJECT": Op.PUT,
    "REST.HEAD.OBJECT": Op.HEAD,
    "REST.COPY.OBJECT": Op.COPY,
    "REST.DELETE.OBJECT": Op.DELETE,
}
_IBM_SHAPE = ("expected 3, 4 or 6 space-separated fields "
              "(timestamp_ms operation object_id [size [range_start range_end]]), got {}")


def parse_ibm_cos(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    """``timestamp_ms operation object_id [size [range_start range_end]]``.

    Timestamps are relative milliseconds, rebased onto ``ctx.base_time``;
    ``size`` is the object size (the range only narrows a GET) and is None
    when absent (DELETE).
    """
    ops, tenant, isfinite = IBM_OPS, ctx.tenant, math.isfinite
    base, origin = ctx.base_time, ctx.rel_origin
    origin_ms = None if origin is None else origin * 1000.0
    PUT, Rec = Op.PUT, AccessRecord
    for no, line in enumerate(lines, 1):
        parts = line.split()
        n = len(parts)
        if n == 0:
            continue
        if no == 1 and _is_header(parts[0]):
            continue
        if n != 4 and n != 6 and n != 3:
            yield bad(no, line, _IBM_SHAPE.format(n))
            continue
        op = ops.get(parts[1])
        if op is None:
            yield bad(no, line, f"op: unsupported operation {parts[1]!r}; "
                                f"expected one of {', '.join(ops)}")
            continue
        try:
            t = float(parts[0])
        except ValueError:
            yield bad(no, line, f"ts: not a number of milliseconds: {parts[0]!r}")
            continue
        if not isfinite(t):
            yield bad(no, line, f"ts: must be finite, got {parts[0]!r}")
            continue
        if n > 3:
            try:
                size = int(parts[3])
            except ValueError:
                yield bad(no, line, f"size: expected an integer number of bytes, got {parts[3]!r}")
                continue
            if size < 0:
                yield bad(no, line, f"size: must be >= 0, got {size}")
                continue
            if n == 6:
                try:
                    lo, hi = int(parts[4]), int(parts[5])
                except ValueError:
                    yield bad(no, line, f"range: expected integer offsets, got {parts[4]!r} {parts[5]!r}")
                    continue
                if lo < 0 or hi < lo:
                    yield bad(no, line, f"range: need 0 <= start <= end, got {lo} {hi}")
                    continue
        elif op is PUT:
            yield bad(no, line, "size: required for PUT")
            continue
        else:
            size = None
        key = parts[2]
        if len(key) > 256 or "\x00" in key or not key.isascii():
            problem = key_problem(key)
            if problem:
                yield bad(no, line, problem)
                continue
        if origin_ms is None:
            origin_ms = t
        ts = base + (t - origin_ms) / 1000.0
        if ts < 0:
            yield bad(no, line, f"ts: rebased time {ts!r} is before 1970-01-01")
            continue
        yield Rec(ts, tenant, key, op, size, None)


# ----- block traces ----------------------------------------------------------

# SCSI opcodes seen in CloudPhysics traces (hex, lower case): READ/WRITE(6/10/12/16).
SCSI_OPS = {"8": Op.GET, "08": Op.GET, "28": Op.GET, "a8": Op.GET, "88": Op.GET,
            "a": Op.PUT, "0a": Op.PUT, "2a": Op.PUT, "aa": Op.PUT, "8a": Op.PUT}
RW_OPS = {"r": Op.GET, "read": Op.GET, "w": Op.PUT, "write": Op.PUT}


def _block_key(block: int, volume: str, grain: int) -> str:
    """Block (LBN) grouped by ``grain``; volumes other than 0 get a ``vol:`` prefix."""
    key = str(block // grain)
    return key if volume in ("0", "") else f"{volume}:{key}"


def _block_common(no: int, line: str, op: Op | None, op_text: str, size_text: str,
                  ts: float) -> tuple[int | None, BadLine | None]:
    """Checks shared by all block parsers; returns (size, None) or (None, BadLine)."""
    if op is None:
        return None, bad(no, line, f"op: unsupported I/O type {op_text.strip()!r}")
    try:
        size = int(size_text)
    except ValueError:
        return None, bad(no, line, f"size: expected an integer number of bytes, got {size_text.strip()!r}")
    if size < 0:
        return None, bad(no, line, f"size: must be >= 0, got {size}")
    if not (ts >= 0 and math.isfinite(ts)):
        return None, bad(no, line, f"ts: must be a finite time at or after 1970-01-01, got {ts!r}")
    return size, None


def parse_cloudphysics(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    """``version,time,op,size,lbn``: relative seconds, SCSI opcode in hex, LBN."""
    rebase, grain, tenant, Rec = _Rebase(ctx), ctx.lbn_grain, ctx.tenant, AccessRecord
    for no, line in enumerate(lines, 1):
        parts = line.split(",")
        if len(parts) != 5:
            if line.strip():
                yield bad(no, line, f"expected 5 comma-separated fields (version,time,op,size,lbn), got {len(parts)}")
            continue
        if no == 1 and _is_header(parts[0]):
            continue
        try:
            t = float(parts[1])
            lbn = int(parts[4])
        except ValueError:
            yield bad(no, line, f"ts/lbn: expected numbers, got time={parts[1]!r} lbn={parts[4].strip()!r}")
            continue
        if lbn < 0 or not math.isfinite(t):
            yield bad(no, line, f"lbn/ts: need lbn >= 0 and a finite time, got lbn={lbn} time={parts[1]!r}")
            continue
        op_text = parts[2].strip().lower()
        size, err = _block_common(no, line, SCSI_OPS.get(op_text), op_text, parts[3], 0.0)
        if err is not None:
            yield err
            continue
        ts = rebase(t)
        if ts < 0:
            yield bad(no, line, f"ts: rebased time {ts!r} is before 1970-01-01")
            continue
        yield Rec(ts, tenant, str(lbn // grain), SCSI_OPS[op_text], size, None)


def parse_msr(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    """``timestamp,host,disk,type,offset,size,response_time`` (MSR Cambridge).

    ``timestamp`` is a Windows FILETIME (100 ns since 1601), converted to real
    Unix time; ``response_time`` is in 100 ns ticks too, reported as ms.
    """
    grain, block, tenant, Rec = ctx.lbn_grain, ctx.block_size, ctx.tenant, AccessRecord
    for no, line in enumerate(lines, 1):
        parts = line.split(",")
        if len(parts) != 7:
            if line.strip():
                yield bad(no, line, "expected 7 comma-separated fields "
                                    f"(timestamp,host,disk,type,offset,size,response_time), got {len(parts)}")
            continue
        if no == 1 and _is_header(parts[0]):
            continue
        try:
            ticks = int(parts[0])
            offset = int(parts[4])
            rt = int(parts[6])
        except ValueError:
            yield bad(no, line, "timestamp/offset/response_time: expected integers, got "
                                f"{parts[0]!r}/{parts[4]!r}/{parts[6].strip()!r}")
            continue
        if offset < 0 or rt < 0:
            yield bad(no, line, f"offset/response_time: must be >= 0, got {offset}/{rt}")
            continue
        secs, rem = divmod(ticks - FILETIME_UNIX_EPOCH, TICKS_PER_S)
        ts = secs + rem / TICKS_PER_S
        op_text = parts[3]
        size, err = _block_common(no, line, RW_OPS.get(op_text.strip().lower()), op_text, parts[5], ts)
        if err is not None:
            yield err
            continue
        key = _block_key(offset // block, parts[2].strip(), grain)
        yield Rec(ts, tenant, key, RW_OPS[op_text.strip().lower()], size, rt / 10_000)


def parse_systor(lines: Iterable[str], ctx: Context) -> Iterator[Item]:
    """``Timestamp,Response,IOType,LUN,Offset,Size`` (SYSTOR '17).

    ``Timestamp`` is Unix seconds (kept as is); ``Response`` is seconds, reported as ms.
    """
    grain, block, tenant, Rec = ctx.lbn_grain, ctx.block_size, ctx.tenant, AccessRecord
    isfinite = math.isfinite
    for no, line in enumerate(lines, 1):
        parts = line.split(",")
        if len(parts) != 6:
            if line.strip():
                yield bad(no, line, "expected 6 comma-separated fields "
                                    f"(Timestamp,Response,IOType,LUN,Offset,Size), got {len(parts)}")
            continue
        if no == 1 and _is_header(parts[0]):
            continue
        try:
            ts = float(parts[0])
            resp = float(parts[1])
            offset = int(parts[4])
        except ValueError:
            yield bad(no, line, "Timestamp/Response/Offset: expected numbers, got "
                                f"{parts[0]!r}/{parts[1]!r}/{parts[4]!r}")
            continue
        if offset < 0 or not (resp >= 0 and isfinite(resp)):
            yield bad(no, line, f"Offset/Response: must be >= 0 and finite, got {offset}/{parts[1]!r}")
            continue
        op = RW_OPS.get(parts[2].strip().lower())
        size, err = _block_common(no, line, op, parts[2], parts[5], ts)
        if err is not None:
            yield err
            continue
        yield Rec(ts, tenant, _block_key(offset // block, parts[3].strip(), grain), op, size,
                  round(resp * 1000.0, 9))
