"""The csv format for logs that are not tidy CSV: no header, another
delimiter, keys of several columns, block grouping, units and op values."""

from __future__ import annotations

import pytest

from tiering.domain.records import Op
from tiering.ingest.traces import parse_csv_mapping, read_trace


def test_no_header_a_delimiter_a_composed_key_units_and_op_values(tmp_path):
    log = tmp_path / "io.log"
    log.write_text("1700000000;vol1;a.db;R;8\n1700000060;vol1;a.db;W;16\n1700000120;vol2;a.db;X;1\n"
                   "1700000180;vol2\n")
    records, bads = read_trace(log, "csv", csv_mapping=parse_csv_mapping(
        "header=no,delimiter=semicolon,ts=1,key=2+3,op=4,op.R=GET,op.W=PUT,size=5,size_unit=sectors"))
    assert [(r.ts, r.key, r.op, r.size) for r in records] == [
        (1700000000.0, "vol1/a.db", Op.GET, 4096), (1700000060.0, "vol1/a.db", Op.PUT, 8192)]
    assert [b.line_no for b in bads] == [3, 4] and "op" in bads[0].reason and "columns" in bads[1].reason


def test_block_requests_group_into_objects_by_offset(tmp_path):
    log = tmp_path / "block.csv"
    log.write_text("time,disk,type,sector,bytes\n"
                   "1.0,d0,Read,0,4096\n2.0,d0,Write,7,4096\n3.0,d0,Read,8,512\n4.0,d1,Read,8,512\n"
                   "5.0,d1,Read,minus,512\n")
    records, bads = read_trace(log, "csv", csv_mapping=parse_csv_mapping(
        "ts=time,key=disk,op=type,op.Read=GET,op.Write=PUT,offset=sector,offset_unit=sectors,"
        "block_bytes=4096,size=bytes"))
    assert [(r.key, r.op) for r in records] == [("d0/0", Op.GET), ("d0/0", Op.PUT), ("d0/1", Op.GET),
                                                ("d1/1", Op.GET)]
    assert len(bads) == 1 and bads[0].reason.startswith("offset")


def test_blank_separated_columns(tmp_path):
    log = tmp_path / "spaces.log"
    log.write_text("1700000000   k1  GET   10\n1700000001 k2 PUT 20\n")
    records, _ = read_trace(log, "csv", csv_mapping="header=no,delimiter=space,ts=1,key=2,op=3,size=4")
    assert [(r.key, r.size) for r in records] == [("k1", 10), ("k2", 20)]


@pytest.mark.parametrize("mapping, words", [
    ("header=no,ts=time,key=2,op=3", "columns are numbers from 1"),
    ("header=maybe,ts=1,key=2,op=3", "header"),
    ("ts=t,key=k,op=o,block_bytes=4096", "needs offset"),
    ("ts=t,key=k,op=o,offset=s,block_bytes=0", "block_bytes"),
    ("ts=t,key=k,op=o,delimiter=::", "delimiter"),
    ("ts=t,key=k,op=o,size_unit=furlongs", "size_unit"),
])
def test_bad_options_say_which_entry(mapping, words):
    with pytest.raises(ValueError, match=words):
        parse_csv_mapping(mapping)
