"""The generic ``csv`` trace format: a header row plus a column mapping.

A mapping names, for each of our fields, the CSV column that holds it::

    {"ts": "time", "key": "path", "op": "method", "size": "bytes",
     "tenant": "bucket", "latency_ms": "ms",
     "op_map": {"READ": "GET", "WRITE": "PUT"}, "ts_unit": "ms"}

``ts``, ``key`` and ``op`` are required. ``ts_unit`` is ``s`` (default),
``ms``, ``us``, ``ns`` or ``iso`` (ISO-8601, or epoch seconds); timestamps are
absolute event times. Without an ``op_map`` entry an op value is matched to our
ops case-insensitively. Each row goes through ``domain.records.parse_record``.

For logs that are not tidy CSV:

- ``header=no``: the file has no header row; columns are named by their
  number, from 1 (``ts=1,key=3,op=2``).
- ``delimiter``: one character, or ``comma``, ``tab``, ``semicolon``,
  ``space`` (runs of blanks), ``pipe``.
- ``key=A+B``: a key made of several columns, joined with ``/`` (a volume
  and a file, a bucket and a name).
- ``offset=COL`` with ``block_bytes=N``: block traces; each request's object
  is its block, ``offset // N``, appended to the key (``key=volume``).
- ``offset_unit`` and ``size_unit``: ``bytes`` (default), ``sectors`` (512
  bytes), ``kib``, ``mib``, ``gib``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from tiering.domain.records import Op, RecordError, parse_record, parse_ts

from .formats import BadLine, Context, Item, TraceError, bad

COLUMN_FIELDS = ("ts", "key", "op", "size", "tenant", "latency_ms", "offset")
REQUIRED_FIELDS = ("ts", "key", "op")
TS_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "iso": None}
BYTE_UNITS = {"bytes": 1, "sectors": 512, "kib": 1024, "mib": 2 ** 20, "gib": 2 ** 30}
DELIMITERS = {"comma": ",", "tab": "\t", "semicolon": ";", "space": " ", "pipe": "|"}
OPTION_FIELDS = ("op_map", "ts_unit", "header", "delimiter", "block_bytes", "offset_unit", "size_unit")


@dataclass(frozen=True)
class CsvMapping:
    """A checked mapping: field -> column name (or 1-based number without a
    header; ``key`` may join several, ``A+B``), plus the options above."""

    columns: dict[str, str]
    op_map: dict[str, Op] = field(default_factory=dict)
    ts_unit: str = "s"
    header: bool = True
    delimiter: str = ","
    block_bytes: int | None = None
    offset_unit: str = "bytes"
    size_unit: str = "bytes"

    def key_columns(self) -> list[str]:
        return [c.strip() for c in self.columns["key"].split("+")]


def _op(value: Any, entry: str) -> Op:
    try:
        return Op(str(value).strip().upper())
    except ValueError:
        raise ValueError(f"csv mapping entry {entry!r}: op must be one of "
                         f"{', '.join(o.value for o in Op)}, got {value!r}") from None


def parse_csv_mapping(text: str) -> dict[str, Any]:
    """Parse a CLI mapping such as ``ts=time,key=path,op=method,op.READ=GET,ts_unit=ms``.

    Raises ValueError naming the offending entry.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("csv mapping is empty; expected entries like ts=time,key=path,op=method")
    mapping: dict[str, Any] = {}
    op_map: dict[str, str] = {}
    for raw_entry in text.split(","):
        entry = raw_entry.strip()
        if not entry:
            raise ValueError(f"csv mapping {text!r}: empty entry (stray comma?)")
        name, eq, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise ValueError(f"csv mapping entry {entry!r}: expected field=column")
        if name.startswith("op."):
            raw_op = name[3:]
            if not raw_op:
                raise ValueError(f"csv mapping entry {entry!r}: expected op.<trace value>=<OP>")
            if raw_op in op_map:
                raise ValueError(f"csv mapping entry {entry!r}: op value {raw_op!r} mapped twice")
            op_map[raw_op] = _op(value, entry).value
            continue
        if name not in COLUMN_FIELDS and name not in OPTION_FIELDS:
            raise ValueError(f"csv mapping entry {entry!r}: unknown field {name!r}; allowed: "
                             f"{', '.join(COLUMN_FIELDS + OPTION_FIELDS[1:])}, op.<value>")
        if name in mapping:
            raise ValueError(f"csv mapping entry {entry!r}: field {name!r} given twice")
        mapping[name] = value
    if op_map:
        mapping["op_map"] = op_map
    validate_csv_mapping(mapping)
    return mapping


def validate_csv_mapping(mapping: Mapping[str, Any] | CsvMapping | None) -> CsvMapping:
    """Check a mapping (dict or CsvMapping); raise ValueError naming the bad entry."""
    if isinstance(mapping, CsvMapping):
        return mapping
    if mapping is None:
        raise ValueError("format 'csv' needs a csv_mapping, e.g. ts=time,key=path,op=method")
    if not isinstance(mapping, Mapping):
        raise ValueError(f"csv mapping must be a mapping, got {type(mapping).__name__}")
    columns: dict[str, str] = {}
    for name, value in mapping.items():
        if name in OPTION_FIELDS:
            continue
        if name not in COLUMN_FIELDS:
            raise ValueError(f"csv mapping entry {name!r}: unknown field; allowed: "
                             f"{', '.join(COLUMN_FIELDS + OPTION_FIELDS)}")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"csv mapping entry {name!r}: column name must be a non-empty string, got {value!r}")
        columns[name] = value.strip()
    missing = [f for f in REQUIRED_FIELDS if f not in columns]
    if missing:
        raise ValueError(f"csv mapping: missing required field(s) {', '.join(missing)} "
                         f"(need {', '.join(REQUIRED_FIELDS)})")
    unit = mapping.get("ts_unit", "s")
    if unit not in TS_UNITS:
        raise ValueError(f"csv mapping entry 'ts_unit={unit}': expected one of {', '.join(TS_UNITS)}")
    raw_map = mapping.get("op_map") or {}
    if not isinstance(raw_map, Mapping):
        raise ValueError(f"csv mapping entry 'op_map': expected a mapping, got {type(raw_map).__name__}")
    op_map = {str(k): _op(v, f"op.{k}={v}") for k, v in raw_map.items()}
    header = _header_option(mapping.get("header", "yes"))
    if not header:
        for name, column in columns.items():
            parts = column.split("+") if name == "key" else [column]
            if not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
                raise ValueError(f"csv mapping entry '{name}={column}': with header=no, columns are numbers from 1")
    delimiter = str(mapping.get("delimiter", ","))
    delimiter = DELIMITERS.get(delimiter.lower(), delimiter)
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"csv mapping entry 'delimiter={mapping.get('delimiter')}': one character, or one of "
                         f"{', '.join(DELIMITERS)}")
    block = mapping.get("block_bytes")
    if block is not None:
        if not str(block).isdigit() or int(block) < 1:
            raise ValueError(f"csv mapping entry 'block_bytes={block}': a whole number of bytes >= 1")
        if "offset" not in columns:
            raise ValueError("csv mapping entry 'block_bytes': needs offset=COLUMN, the request's offset")
        block = int(block)
    units = {}
    for name in ("offset_unit", "size_unit"):
        units[name] = str(mapping.get(name, "bytes")).lower()
        if units[name] not in BYTE_UNITS:
            raise ValueError(f"csv mapping entry '{name}={mapping.get(name)}': expected one of {', '.join(BYTE_UNITS)}")
    return CsvMapping(columns, op_map, unit, header, delimiter, block, **units)


def _header_option(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise ValueError(f"csv mapping entry 'header={value}': expected yes or no")


class _LastLine:
    """Wraps a line iterator and remembers the last physical line, for BadLine.text."""

    def __init__(self, lines: Iterable[str]):
        self.it = iter(lines)
        self.last = ""

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.last = next(self.it)
        return self.last


class CsvHeaderError(TraceError):
    """A mapped column missing from the header. The message leaves the header
    out (it is the file's contents); a local caller may show ``header``."""

    def __init__(self, message: str, header: list[str]):
        super().__init__(message)
        self.header = header

    def for_file_owner(self) -> str:
        """The message with the header, for the CLI: whoever runs it reads the file anyway."""
        return f"{self} (header: {', '.join(self.header)})"


def read_csv_header(lines: Iterable[str], mapping: CsvMapping) -> tuple[Any, _LastLine, dict[str, tuple[int, ...]]]:
    """Read the header (unless ``header=no``); check every mapped column is there.
    Positions are per field, a tuple (a key may join several columns)."""
    src = _LastLine(lines)
    reader = csv.reader(src, delimiter=mapping.delimiter, skipinitialspace=mapping.delimiter == " ")
    wanted = {fld: ([c.strip() for c in col.split("+")] if fld == "key" else [col])
              for fld, col in mapping.columns.items()}
    if not mapping.header:
        return reader, src, {fld: tuple(int(c) - 1 for c in cols) for fld, cols in wanted.items()}
    header: list[str] | None = None
    for row in reader:
        if row and any(cell.strip() for cell in row):
            header = [cell.strip() for cell in row]
            break
    if header is None:
        raise TraceError("csv trace is empty: no header row")
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    positions = {}
    for fld, cols in wanted.items():
        for column in cols:
            if column not in index:
                raise CsvHeaderError(f"csv mapping entry '{fld}={mapping.columns[fld]}': column {column!r} is not "
                                     "in the trace's header row (header=no for a file without one)", header)
        positions[fld] = tuple(index[c] for c in cols)
    return reader, src, positions


def parse_csv(reader: Any, src: _LastLine, positions: dict[str, tuple[int, ...]], mapping: CsvMapping,
              ctx: Context) -> Iterator[Item]:
    """Rows after the header; each validated by ``domain.records.parse_record``."""
    scale = TS_UNITS[mapping.ts_unit]
    op_map = mapping.op_map
    upper_map = {k.upper(): v for k, v in op_map.items()}
    width = max(i for cols in positions.values() for i in cols) + 1
    single = [(fld, cols[0]) for fld, cols in positions.items() if fld not in ("key", "offset")]
    key_cols, offset_col = positions["key"], positions.get("offset", (None,))[0]
    block, offset_unit = mapping.block_bytes, BYTE_UNITS[mapping.offset_unit]
    size_unit = BYTE_UNITS[mapping.size_unit]
    for row in reader:
        no = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            yield bad(no, src.last, f"expected at least {width} columns, got {len(row)}")
            continue
        raw: dict[str, Any] = {fld: row[i].strip() for fld, i in single}
        raw["key"] = "/".join(row[i].strip() for i in key_cols)
        try:
            if block is not None:
                raw["key"] += f"/{int(_number(row[offset_col], 'offset') * offset_unit // block)}"
            if size_unit != 1 and raw.get("size"):
                raw["size"] = int(_number(raw["size"], "size") * size_unit)
            ts_text = raw["ts"]
            if scale is None:
                raw["ts"] = parse_ts(ts_text)
            else:
                raw["ts"] = _number(ts_text, "ts", f"a number of {mapping.ts_unit}") * scale
            op_text = raw["op"]
            op = op_map.get(op_text) or upper_map.get(op_text.upper())
            if op is not None:
                raw["op"] = op.value
            if not raw.get("tenant"):
                raw["tenant"] = ctx.tenant
            record = parse_record(raw)
        except RecordError as err:
            yield bad(no, src.last, str(err))
            continue
        yield record


def _number(text: str, fld: str, what: str = "a number") -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(fld, f"not {what}: {text.strip()[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or (fld != "ts" and value < 0):
        raise RecordError(fld, f"not {what} >= 0: {text.strip()[:40]!r}")
    return value


__all__ = ["BadLine", "CsvMapping", "parse_csv_mapping", "validate_csv_mapping"]
