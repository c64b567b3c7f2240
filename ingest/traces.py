"""Streaming trace parsers: a trace file in, AccessRecord (or BadLine) out.

Formats (see shared/traces/README.md):

- ``ibm-cos``      IBM COS object trace; relative ms, rebased onto ``base_time``.
- ``cloudphysics`` CloudPhysics block trace; relative seconds, rebased.
- ``msr``          MSR Cambridge block trace; FILETIME, converted to real Unix time.
- ``systor``       SYSTOR '17 block trace; Unix seconds, kept.
- ``s3-access``    S3 server access logs; absolute times, keys ``bucket/key``.
- ``minio-audit``  MinIO audit logs (JSON lines); absolute times, keys ``bucket/key``.
- ``csv``          any CSV with a header, read through a column mapping.

Relative traces are rebased so their first good record lands at ``base_time``
(or pass ``rel_origin``, in trace seconds, to pin the origin, e.g. 0 to keep
offsets as they are, or the same origin for consecutive parts of one trace).
Block traces become objects by block number: ``key = str(lbn // lbn_grain)``,
where msr/systor byte offsets become blocks of ``block_size`` bytes; reads are
GET, writes PUT with the request size.

A bad line is yielded as a ``BadLine`` and never raises; only an unknown format
or a bad argument/mapping raises ValueError (eagerly, before iteration).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from tiering.domain.records import DEFAULT_TENANT, AccessRecord, RecordError, parse_record

from .csvmap import CsvMapping, parse_csv, parse_csv_mapping, read_csv_header, validate_csv_mapping
from .formats import BadLine, Context, Item, parse_cloudphysics, parse_ibm_cos, parse_msr, parse_systor
from .log_formats import parse_minio_audit, parse_s3_access

DEFAULT_BASE = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()  # 1767225600.0
FORMATS = ("ibm-cos", "cloudphysics", "msr", "systor", "s3-access", "minio-audit", "csv")
RELATIVE_FORMATS = ("ibm-cos", "cloudphysics")
_PARSERS: dict[str, Callable[[Iterable[str], Context], Iterator[Item]]] = {
    "ibm-cos": parse_ibm_cos,
    "cloudphysics": parse_cloudphysics,
    "msr": parse_msr,
    "systor": parse_systor,
    "s3-access": parse_s3_access,
    "minio-audit": parse_minio_audit,
}
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

__all__ = ["BadLine", "CsvMapping", "DEFAULT_BASE", "FORMATS", "TraceStats", "iter_trace",
           "iter_records", "open_trace", "parse_csv_mapping", "read_trace", "trace_stats",
           "validate_csv_mapping"]


class ReadProgress(io.RawIOBase):
    """The trace file's bytes read so far (compressed bytes, for a compressed
    file): progress against the file's size, known before any line is parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: IO[bytes] | None = None
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        assert self.raw is not None
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bytes += n or 0
        return n

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
        super().close()


def open_trace(path: str | Path, *, csv_mode: bool = False, progress: ReadProgress | None = None) -> IO[str]:
    """Open a trace as text (UTF-8; .gz/.bz2/.xz transparently).

    Undecodable bytes are kept as surrogates, so they end up in a BadLine
    rather than aborting the whole file. ``progress`` counts the bytes read.
    """
    path = Path(path)
    opener = _OPENERS.get(path.suffix.lower())
    text = dict(encoding="utf-8", errors="surrogateescape", newline="" if csv_mode else None)
    if progress is None:
        return (opener or open)(path, "rt", **text)
    progress.raw = open(path, "rb")
    if opener is not None:
        return opener(progress, "rt", **text)
    return io.TextIOWrapper(io.BufferedReader(progress), **text)


def _check_args(fmt: str, tenant: str, base_time: float, lbn_grain: int, block_size: int,
                rel_origin: float | None) -> Context:
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format {fmt!r}; expected one of {', '.join(FORMATS)}")
    tenant = tenant or DEFAULT_TENANT
    try:
        parse_record({"ts": base_time, "tenant": tenant, "key": "k", "op": "GET"})
    except RecordError as err:
        raise ValueError(f"bad {'tenant' if err.field == 'tenant' else 'base_time'}: {err.reason}") from None
    for name, value in (("lbn_grain", lbn_grain), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if rel_origin is not None:
        rel_origin = float(rel_origin)
    return Context(tenant, float(base_time), lbn_grain, block_size, rel_origin)


def iter_trace(path: str | Path, fmt: str, *, tenant: str = DEFAULT_TENANT,
               base_time: float = DEFAULT_BASE,
               csv_mapping: Mapping[str, Any] | CsvMapping | str | None = None,
               lbn_grain: int = 1, block_size: int = 512,
               rel_origin: float | None = None,
               progress: ReadProgress | None = None) -> Iterator[AccessRecord | BadLine]:
    """Stream a trace file as AccessRecord, with a BadLine for each bad line.

    ``csv_mapping`` (format ``csv`` only) is a dict, a CsvMapping or a CLI
    string for :func:`parse_csv_mapping`. Arguments, the mapping and (for csv)
    the header are checked before this returns; ValueError names the problem.
    """
    ctx = _check_args(fmt, tenant, base_time, lbn_grain, block_size, rel_origin)
    if fmt == "csv":
        if isinstance(csv_mapping, str):
            csv_mapping = parse_csv_mapping(csv_mapping)
        mapping = validate_csv_mapping(csv_mapping)
        handle = open_trace(path, csv_mode=True, progress=progress)
        try:
            reader, src, positions = read_csv_header(handle, mapping)
        except BaseException:
            handle.close()
            raise
        return _closing(handle, parse_csv(reader, src, positions, mapping, ctx))
    if csv_mapping is not None:
        raise ValueError(f"csv_mapping applies only to format 'csv', not {fmt!r}")
    handle = open_trace(path, progress=progress)
    return _closing(handle, _PARSERS[fmt](handle, ctx))


def _closing(handle: IO[str], items: Iterator[Item]) -> Iterator[Item]:
    with handle:
        yield from items


def iter_records(path: str | Path, fmt: str, *, on_bad: Callable[[BadLine], None] | None = None,
                 **kwargs: Any) -> Iterator[AccessRecord]:
    """Only the records; bad lines go to ``on_bad`` (or are dropped)."""
    for item in iter_trace(path, fmt, **kwargs):
        if type(item) is AccessRecord:
            yield item
        elif on_bad is not None:
            on_bad(item)


def read_trace(path: str | Path, fmt: str, **kwargs: Any) -> tuple[list[AccessRecord], list[BadLine]]:
    """The whole trace in memory: (records, bad lines)."""
    records: list[AccessRecord] = []
    bads: list[BadLine] = []
    for item in iter_trace(path, fmt, **kwargs):
        (records if type(item) is AccessRecord else bads).append(item)
    return records, bads


@dataclass
class TraceStats:
    """Counts over a parsed stream: good/bad lines, ops, keys, event-time span."""

    good: int = 0
    bad: int = 0
    ops: Counter = field(default_factory=Counter)
    keys: set[str] = field(default_factory=set)
    min_ts: float | None = None
    max_ts: float | None = None
    bad_examples: list[BadLine] = field(default_factory=list)
    max_examples: int = 10
    track_keys: bool = True

    def add(self, item: AccessRecord | BadLine) -> None:
        if type(item) is AccessRecord:
            self.good += 1
            self.ops[item.op.value] += 1
            if self.track_keys:
                self.keys.add(item.key)
            ts = item.ts
            if self.min_ts is None or ts < self.min_ts:
                self.min_ts = ts
            if self.max_ts is None or ts > self.max_ts:
                self.max_ts = ts
        else:
            self.bad += 1
            if len(self.bad_examples) < self.max_examples:
                self.bad_examples.append(item)

    def track(self, items: Iterable[AccessRecord | BadLine]) -> Iterator[AccessRecord]:
        """Count everything passing through; yield only the records."""
        for item in items:
            self.add(item)
            if type(item) is AccessRecord:
                yield item

    @property
    def lines(self) -> int:
        return self.good + self.bad

    @property
    def distinct_keys(self) -> int:
        return len(self.keys)

    @property
    def span_s(self) -> float:
        return 0.0 if self.min_ts is None else self.max_ts - self.min_ts

    def as_dict(self) -> dict[str, Any]:
        return {"good": self.good, "bad": self.bad, "ops": dict(self.ops),
                "distinct_keys": self.distinct_keys if self.track_keys else None,
                "min_ts": self.min_ts, "max_ts": self.max_ts, "span_s": self.span_s,
                "bad_examples": [(b.line_no, b.reason) for b in self.bad_examples]}


def trace_stats(path: str | Path, fmt: str, *, track_keys: bool = True, **kwargs: Any) -> TraceStats:
    """Parse a whole trace and count it."""
    stats = TraceStats(track_keys=track_keys)
    for item in iter_trace(path, fmt, **kwargs):
        stats.add(item)
    return stats
