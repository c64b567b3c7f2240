"""S3 server access logs and MinIO audit logs, as buckets write them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tiering.domain.records import Op
from tiering.ingest.traces import BadLine, read_trace

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"


def s3_line(op: str, key: str, uri: str, status: str = "200", sent: str = "-", size: str = "-",
            total: str = "7", when: str = "06/Feb/2019:00:00:38 +0000") -> str:
    return (f'{OWNER} awsexamplebucket1 [{when}] 192.0.2.3 {OWNER} 3E57427F3EXAMPLE {op} {key} '
            f'"{uri}" {status} - {sent} {size} {total} - "-" "S3Console/0.4" - '
            's9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 '
            'ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -')


def test_s3_server_access_logs_become_object_accesses(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("\n".join([
        s3_line("REST.GET.VERSIONING", "-", "GET /awsexamplebucket1?versioning HTTP/1.1", sent="113"),
        s3_line("REST.PUT.OBJECT", "photos/a%20b.jpg", "PUT /awsexamplebucket1/photos/a%20b.jpg HTTP/1.1",
                size="2048", total="40"),
        s3_line("REST.GET.OBJECT", "photos/a%20b.jpg", "GET /awsexamplebucket1/photos/a%20b.jpg HTTP/1.1",
                sent="2048", size="2048", when="06/Feb/2019:00:01:38 +0100"),
        s3_line("REST.GET.OBJECT", "missing", "GET /awsexamplebucket1/missing HTTP/1.1", status="404"),
        s3_line("REST.POST.UPLOAD", "big", "POST /awsexamplebucket1/big?uploads HTTP/1.1"),
        s3_line("REST.POST.UPLOAD", "big", "POST /awsexamplebucket1/big?uploadId=x HTTP/1.1", size="9000"),
        s3_line("REST.DELETE.OBJECT", "photos/a%20b.jpg", "DELETE /awsexamplebucket1/photos/a%20b.jpg HTTP/1.1",
                status="204"),
        s3_line("REST.PUT.OBJECT", "nosize", "PUT /awsexamplebucket1/nosize HTTP/1.1"),
        "not an access log line",
    ]) + "\n")
    records, bads = read_trace(log, "s3-access", tenant="acme")
    t0 = datetime(2019, 2, 6, tzinfo=timezone.utc).timestamp() + 38
    assert [(r.op, r.key, r.size, r.ts - t0) for r in records] == [
        (Op.PUT, "awsexamplebucket1/photos/a b.jpg", 2048, 0.0),
        (Op.GET, "awsexamplebucket1/photos/a b.jpg", 2048, 60.0 - 3600.0),  # +0100
        (Op.PUT, "awsexamplebucket1/big", 9000, 0.0),
        (Op.DELETE, "awsexamplebucket1/photos/a b.jpg", None, 0.0),
    ]
    assert records[0].tenant == "acme" and records[0].latency_ms == 40.0
    assert [(b.line_no, b.reason.split(":")[0]) for b in bads] == [(8, "size"), (9, "expected an S3 server access "
                                                                                   "log line (at least 14 fields, "
                                                                                   "the third a [time]), got 5 fields")]


def test_minio_audit_logs_become_object_accesses(tmp_path):
    def entry(name, obj="docs/r.pdf", status=200, time="2026-03-01T10:00:00.123456789Z", **api):
        return json.dumps({"version": "1", "deploymentid": "d", "time": time, "trigger": "incoming",
                           "api": {"name": name, "bucket": "docs", "object": obj, "status": "OK",
                                   "statusCode": status, "timeToResponse": "2500000ns", **api},
                           "requestHeader": {"Content-Length": "4096"} if name == "PutObject" else {},
                           "responseHeader": {"Content-Length": "4096"} if name == "GetObject" else {}})
    log = tmp_path / "audit.jsonl"
    log.write_text("\n".join([
        entry("PutObject", rx=4200),
        entry("GetObject", time="2026-03-01T10:05:00Z", tx=4096),
        entry("HeadObject", tx=0),
        entry("ListObjectsV2", obj=""),
        entry("GetObject", status=404),
        entry("DeleteObject", status=204),
        "{not json",
        json.dumps({"time": "2026-03-01T10:00:00Z"}),
    ]) + "\n")
    records, bads = read_trace(log, "minio-audit")
    t0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc).timestamp()
    assert [(r.op, r.key, r.size) for r in records] == [
        (Op.PUT, "docs/docs/r.pdf", 4096), (Op.GET, "docs/docs/r.pdf", 4096), (Op.HEAD, "docs/docs/r.pdf", 0),
        (Op.DELETE, "docs/docs/r.pdf", None)]
    assert abs(records[0].ts - (t0 + 0.123456)) < 1e-6 and records[1].ts == t0 + 300
    assert records[0].latency_ms == 2.5
    assert all(isinstance(b, BadLine) for b in bads) and [b.line_no for b in bads] == [7, 8]


def test_a_readers_progress_is_the_files_bytes_compressed_or_not(tmp_path):
    import gzip

    from tiering.ingest.traces import ReadProgress, iter_trace

    lines = "".join(s3_line("REST.GET.OBJECT", f"k{i}", f"GET /b/k{i} HTTP/1.1", size="10") + "\n"
                    for i in range(500))
    plain, packed = tmp_path / "a.log", tmp_path / "a.log.gz"
    plain.write_text(lines)
    packed.write_bytes(gzip.compress(lines.encode()))
    for path in (plain, packed):
        read = ReadProgress()
        items = iter_trace(path, "s3-access", progress=read)
        next(items)
        assert 0 < read.bytes <= path.stat().st_size
        assert sum(1 for _ in items) == 499
        assert read.bytes == path.stat().st_size
