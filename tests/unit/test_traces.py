"""Trace parsers against the real shared trace samples (read in place, never copied)."""

from __future__ import annotations

import gzip
import statistics
from datetime import datetime, timezone

import pytest

from tests.support.traces import TRACES
from tiering.domain.records import FIELDS, AccessRecord, Op, parse_record
from tiering.ingest.traces import (
    DEFAULT_BASE,
    FORMATS,
    BadLine,
    TraceStats,
    iter_records,
    iter_trace,
    parse_csv_mapping,
    read_trace,
    trace_stats,
)

IBM = TRACES / "ibm-cos-000-part0.txt"
CLOUDPHYSICS = TRACES / "cloudphysics-io.csv"
MSR = TRACES / "msr-cambridge-hm0-head.csv"
SYSTOR = TRACES / "systor17-sample.csv"


def revalidate(record: AccessRecord) -> AccessRecord:
    """Run a produced record back through the domain's own validation."""
    return parse_record(dict(zip(FIELDS, record.as_tuple())))


def test_formats_and_default_base():
    assert FORMATS == ("ibm-cos", "cloudphysics", "msr", "systor", "s3-access", "minio-audit", "csv")
    assert DEFAULT_BASE == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() == 1767225600.0


# ----- ibm-cos ---------------------------------------------------------------

def test_ibm_cos_counts_match_the_trace():
    stats = trace_stats(IBM, "ibm-cos")
    assert stats.bad == 0
    assert stats.good == 10_000
    assert stats.distinct_keys == 1_511
    assert dict(stats.ops) == {"HEAD": 7317, "GET": 2322, "PUT": 240, "COPY": 117, "DELETE": 4}


def test_ibm_cos_fields_times_and_sizes():
    records, bads = read_trace(IBM, "ibm-cos")
    assert bads == []
    first = records[0]  # 1219008 REST.PUT.OBJECT 8d4fcda3d675bac9 1056
    assert first == AccessRecord(DEFAULT_BASE, "default", "8d4fcda3d675bac9", Op.PUT, 1056, None)
    # Relative ms rebased: the first record lands on base_time, spacing is kept.
    assert records[-1].ts == pytest.approx(DEFAULT_BASE + (4470419 - 1219008) / 1000)
    assert all(b.ts >= a.ts for a, b in zip(records, records[1:]))
    # GET with a range reports the object size, not the range length.
    get = records[3]  # 1232488 REST.GET.OBJECT 95d363d3fbdc0b03 1168 0 1167
    assert (get.op, get.key, get.size) == (Op.GET, "95d363d3fbdc0b03", 1168)
    deletes = [r for r in records if r.op is Op.DELETE]
    assert [r.key for r in deletes] == ["2917b9bc396514c0"] * 2 + ["a4fc845b70004b22"] * 2
    assert all(r.size is None for r in deletes)
    last_size = {r.key: r.size for r in records if r.size is not None}
    assert statistics.median_low(last_size.values()) == 65_760
    assert max(last_size.values()) == 1_378_116_288
    for r in records[::97]:
        assert revalidate(r) == r


def test_ibm_cos_rebase_options_and_tenant():
    base = datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()
    first = next(iter_trace(IBM, "ibm-cos", base_time=base, tenant="acme"))
    assert (first.ts, first.tenant) == (base, "acme")
    kept = next(iter_trace(IBM, "ibm-cos", rel_origin=0))
    assert kept.ts == pytest.approx(DEFAULT_BASE + 1219.008)


def test_ibm_cos_bad_lines_are_reported_and_good_lines_still_parse(tmp_path):
    lines = [
        "Timestamp Operation Object_ID Size Start_Offset End_Offset",
        "1000 REST.PUT.OBJECT aaaa 10",                # 2 good
        "1001 REST.POST.UPLOAD aaaa 10",               # 3 unknown operation
        "1002 REST.GET.OBJECT aaaa",                   # 4 good (no size)
        "abc REST.GET.OBJECT aaaa 10 0 9",             # 5 bad timestamp
        "1003 REST.GET.OBJECT aaaa -5 0 9",            # 6 negative size
        "1004 REST.PUT.OBJECT bbbb",                   # 7 PUT without size
        "",                                            # 8 blank: skipped, not bad
        "1005 REST.GET.OBJECT aaaa 10 0",              # 9 five fields
        "1006 REST.GET.OBJECT aaaa 10 9 0",            # 10 inverted range
        "1007 REST.HEAD.OBJECT " + "k" * 1100 + " 10",  # 11 key too long
        "1008 REST.HEAD.OBJECT nan-key x10",           # 12 size not a number
        "1009 REST.DELETE.OBJECT aaaa",                # 13 good
    ]
    path = tmp_path / "ibm.txt"
    path.write_text("\n".join(lines) + "\n")
    records, bads = read_trace(path, "ibm-cos")
    assert [(r.op, r.key, r.size) for r in records] == [
        (Op.PUT, "aaaa", 10), (Op.GET, "aaaa", None), (Op.DELETE, "aaaa", None)]
    assert [r.ts - DEFAULT_BASE for r in records] == pytest.approx([0.0, 0.002, 0.009], abs=1e-6)
    assert [b.line_no for b in bads] == [3, 5, 6, 7, 9, 10, 11, 12]
    assert all(isinstance(b, BadLine) for b in bads)
    reasons = {b.line_no: b.reason for b in bads}
    assert "unsupported operation 'REST.POST.UPLOAD'" in reasons[3]
    assert reasons[5].startswith("ts:")
    assert reasons[6] == "size: must be >= 0, got -5"
    assert reasons[7] == "size: required for PUT"
    assert "got 5" in reasons[9]
    assert reasons[10].startswith("range:")
    assert reasons[11].startswith("key: at most 1024 bytes")
    assert reasons[12].startswith("size: expected an integer")
    assert bads[0].text == "1001 REST.POST.UPLOAD aaaa 10"


def test_undecodable_bytes_become_bad_lines(tmp_path):
    path = tmp_path / "ibm.txt"
    path.write_bytes(b"1 REST.GET.OBJECT ok 5\n2 REST.GET.OBJECT bad\xff\xfe 5\n3 REST.HEAD.OBJECT ok 5\n")
    records, bads = read_trace(path, "ibm-cos")
    assert [r.ts - DEFAULT_BASE for r in records] == pytest.approx([0.0, 0.002], abs=1e-6)
    assert [(b.line_no, b.reason) for b in bads] == [(2, "key: not valid UTF-8")]


def test_gzip_trace(tmp_path):
    path = tmp_path / "part.txt.gz"
    with gzip.open(path, "wt") as out:
        out.write("".join(IBM.read_text().splitlines(keepends=True)[:101]))
    records, bads = read_trace(path, "ibm-cos")
    assert (len(records), bads) == (100, [])


# ----- block traces ----------------------------------------------------------

def test_cloudphysics_counts_and_lbn_grain():
    stats = trace_stats(CLOUDPHYSICS, "cloudphysics")
    assert (stats.good, stats.bad) == (113_872, 0)
    assert dict(stats.ops) == {"PUT": 66_898, "GET": 46_974}
    assert stats.distinct_keys == 48_974
    assert stats.min_ts == DEFAULT_BASE and stats.span_s == 7200.0  # relative seconds, rebased
    assert trace_stats(CLOUDPHYSICS, "cloudphysics", lbn_grain=8).distinct_keys == 44_774
    first = next(iter_trace(CLOUDPHYSICS, "cloudphysics", lbn_grain=8))
    assert first == AccessRecord(DEFAULT_BASE, "default", str(42932745 // 8), Op.PUT, 512, None)


def test_msr_counts_real_time_and_latency():
    records, bads = read_trace(MSR, "msr")
    assert (len(records), bads) == (7016, [])
    ops = {op: sum(r.op is op for r in records) for op in (Op.GET, Op.PUT)}
    assert ops == {Op.GET: 5820, Op.PUT: 1196}
    assert len({r.key for r in records}) == 3644
    first = records[0]  # 128166386783630075,hm,0,Write,3164164096,40960,2896
    assert first.ts == pytest.approx((128166386783630075 - 116444736000000000) / 1e7, abs=1e-6)
    assert datetime.fromtimestamp(first.ts, timezone.utc).date().isoformat() == "2007-02-22"
    assert (first.key, first.op, first.size) == (str(3164164096 // 512), Op.PUT, 40960)
    assert first.latency_ms == pytest.approx(0.2896)  # 2896 ticks of 100 ns
    assert records[-1].ts - first.ts == pytest.approx(148.4055, abs=1e-3)
    assert revalidate(first) == first


def test_systor_counts_time_and_latency():
    records, bads = read_trace(SYSTOR, "systor")
    assert (len(records), bads) == (999, [])
    assert sum(r.op is Op.GET for r in records) == 826
    assert sum(r.op is Op.PUT for r in records) == 173
    assert len({r.key for r in records}) == 988
    first = records[0]  # 1456095145.133076000,0.000806000,R,0,899056122368,131072
    assert first.ts == pytest.approx(1456095145.133076)  # absolute Unix time kept
    assert (first.key, first.op, first.size) == (str(899056122368 // 512), Op.GET, 131072)
    assert first.latency_ms == pytest.approx(0.806)
    assert len({r.key for r in iter_records(SYSTOR, "systor", block_size=4096)}) == 979


def test_block_bad_lines(tmp_path):
    cp = tmp_path / "cp.csv"
    cp.write_text("version,time,op,size,lbn\n1,10,28,512,7\n1,11,ff,512,7\n1,12,2a,-1,7\n"
                  "1,x,2a,512,7\n1,13,2a,512\n1,14,2A,4096,9\n")
    records, bads = read_trace(cp, "cloudphysics")
    assert [(r.ts - DEFAULT_BASE, r.op, r.key) for r in records] == [(0.0, Op.GET, "7"), (4.0, Op.PUT, "9")]
    assert [b.line_no for b in bads] == [3, 4, 5, 6]
    assert bads[0].reason == "op: unsupported I/O type 'ff'"
    assert bads[1].reason == "size: must be >= 0, got -1"
    assert "expected 5" in bads[3].reason
    msr = tmp_path / "msr.csv"
    msr.write_text("128166386783630075,hm,0,Write,4096,512,10\n128166386783630075,hm,0,Trim,0,512,10\n"
                   "128166386783630075,hm,1,Read,4096,512,10\n")
    records, bads = read_trace(msr, "msr")
    assert [r.key for r in records] == ["8", "1:8"]  # other volumes get a prefix
    assert [(b.line_no, b.reason) for b in bads] == [(2, "op: unsupported I/O type 'Trim'")]
    sy = tmp_path / "sy.csv"
    sy.write_text("Timestamp,Response,IOType,LUN,Offset,Size\n1.5,0.001,R,0,512,10\n1.6,-1,W,0,0,10\n")
    records, bads = read_trace(sy, "systor")
    assert len(records) == 1 and bads[0].line_no == 3 and bads[0].reason.startswith("Offset/Response")


def test_every_format_produces_domain_valid_records():
    for path, fmt in ((IBM, "ibm-cos"), (CLOUDPHYSICS, "cloudphysics"), (MSR, "msr"), (SYSTOR, "systor")):
        for i, record in enumerate(iter_records(path, fmt)):
            if i % 500 == 0:
                assert revalidate(record) == record


# ----- generic csv -----------------------------------------------------------

CSV_TEXT = """time,path,method,bytes,bucket,ms
1700000000500,a/b.txt,READ,100,photos,1.5
1700000001000,a/c.txt,WRITE,200,,2
1700000002000,a/b.txt,delete,,photos,
1700000003000,,READ,5,photos,1
oops,a/d.txt,READ,5,photos,1
1700000004000,a/d.txt,FETCH,5,photos,1
1700000005000,a/d.txt,WRITE,,photos,1
1700000006000,a/d.txt,READ,5,bad bucket!,1
1700000007000,"a/e,with comma.txt",HEAD,7,photos,-3
1700000008000,a/f.txt
"""


def test_csv_mapping_parses_rows_and_reports_bad_ones(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(CSV_TEXT)
    mapping = parse_csv_mapping("ts=time, key=path,op=method,size=bytes,tenant=bucket,"
                                "latency_ms=ms,op.READ=GET,op.WRITE=PUT,ts_unit=ms")
    assert mapping == {"ts": "time", "key": "path", "op": "method", "size": "bytes", "tenant": "bucket",
                       "latency_ms": "ms", "ts_unit": "ms", "op_map": {"READ": "GET", "WRITE": "PUT"}}
    records, bads = read_trace(path, "csv", csv_mapping=mapping, tenant="fallback")
    assert records == [
        AccessRecord(1700000000.5, "photos", "a/b.txt", Op.GET, 100, 1.5),
        AccessRecord(1700000001.0, "fallback", "a/c.txt", Op.PUT, 200, 2.0),
        AccessRecord(1700000002.0, "photos", "a/b.txt", Op.DELETE, None, None),
    ]
    assert [b.line_no for b in bads] == [5, 6, 7, 8, 9, 10, 11]
    reasons = [b.reason for b in bads]
    assert reasons[0] == "key: required non-empty string"
    assert reasons[1] == "ts: not a number of ms: 'oops'"
    assert reasons[2].startswith("op: must be one of") and "FETCH" in reasons[2]
    assert reasons[3] == "size: required for PUT"
    assert reasons[4].startswith("tenant:")
    assert reasons[5].startswith("latency_ms: must be")
    assert reasons[6] == "expected at least 6 columns, got 2"
    assert bads[5].text == '1700000007000,"a/e,with comma.txt",HEAD,7,photos,-3'
    # The same mapping as a string, and ISO timestamps.
    iso = tmp_path / "iso.csv"
    iso.write_text("when,name,verb\n2026-01-01T00:00:01Z,x,get\n2026-01-01T00:00:02,y,Head\n"
                   "2026-01-01T00:00:03,z,Put\n2026-01-01 00:00:04,w,head\nyesterday,v,head\n")
    records, bads = read_trace(iso, "csv", csv_mapping="ts=when,key=name,op=verb,ts_unit=iso")
    assert [(r.ts - DEFAULT_BASE, r.op) for r in records] == [(1.0, Op.GET), (2.0, Op.HEAD), (4.0, Op.HEAD)]
    assert [(b.line_no, b.reason) for b in bads] == [
        (4, "size: required for PUT"), (6, "ts: not ISO-8601 or epoch seconds: 'yesterday'")]


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("ts=time,key", "'key'"),
    ("ts=time,key=path,op=method,colour=red", "'colour=red'"),
    ("ts=time,key=path,op=method,op.READ=FETCH", "'op.READ=FETCH'"),
    ("ts=time,key=path,op=method,ts_unit=hours", "ts_unit=hours"),
    ("ts=time,key=path", "missing required field(s) op"),
    ("ts=time,ts=t2,key=path,op=m", "'ts=t2'"),
    ("ts=time,,key=path,op=m", "empty entry"),
    ("ts=time,key=path,op=m,op.=GET", "'op.=GET'"),
])
def test_bad_csv_mapping_strings_name_the_entry(text, words):
    with pytest.raises(ValueError) as err:
        parse_csv_mapping(text)
    assert words in str(err.value)


def test_csv_mapping_checked_against_header_and_arguments(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(CSV_TEXT)
    with pytest.raises(ValueError, match=r"'key=name': column 'name' is not in the trace's header row"):
        iter_trace(path, "csv", csv_mapping={"ts": "time", "key": "name", "op": "method"})
    with pytest.raises(ValueError, match="needs a csv_mapping"):
        iter_trace(path, "csv")
    with pytest.raises(ValueError, match="'colour'"):
        iter_trace(path, "csv", csv_mapping={"ts": "time", "key": "path", "op": "method", "colour": "x"})
    with pytest.raises(ValueError, match="unknown trace format 'parquet'"):
        iter_trace(path, "parquet")
    with pytest.raises(ValueError, match="only to format 'csv'"):
        iter_trace(IBM, "ibm-cos", csv_mapping={"ts": "a"})
    with pytest.raises(ValueError, match="lbn_grain"):
        iter_trace(CLOUDPHYSICS, "cloudphysics", lbn_grain=0)
    with pytest.raises(ValueError, match="tenant"):
        iter_trace(IBM, "ibm-cos", tenant="no spaces")


def test_trace_stats_track_passes_records_through():
    stats = TraceStats()
    records = list(stats.track(iter_trace(SYSTOR, "systor")))
    assert len(records) == stats.good == 999 and stats.bad == 0
    assert stats.as_dict()["ops"] == {"GET": 826, "PUT": 173}
