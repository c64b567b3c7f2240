"""Shared pieces of the read-model tests: a small workload over two tenants,
and a move driven step by step. Their fixtures (``app``, ``runner``) are in
conftest.py."""

from __future__ import annotations

from collections import Counter

from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600 + 1800  # half past an hour


def rec(ts, key, op, size=None, tenant="acme"):
    return {"ts": ts, "tenant": tenant, "key": key, "op": op, "size": size}


def ingest(app, records, batch_id):
    return app.ingest(parse_batch(records), batch_id)


def workload():
    """Three batches over two tenants; every GET carries its size."""
    batches = []
    for b in range(3):
        rows = []
        for i in range(40):
            key = f"k{(i * 7 + b) % 12:02d}"
            tenant = "acme" if i % 3 else "beta"
            op = ["PUT", "GET", "GET", "HEAD", "COPY"][(i + b) % 5]
            rows.append(rec(T0 + b * 600 + i, key, op, 1000 + 10 * (i % 12), tenant))
        batches.append(rows)
    return batches


def expected_ops(batches):
    ops: dict[tuple[str, str], Counter] = {}
    for rows in batches:
        for r in rows:
            ops.setdefault((r["tenant"], r["key"]), Counter())[r["op"]] += 1
    return ops


def run_move(app, key, move_id, target, steps, at):
    def act(o):
        o.request_move(move_id, Tier(target), "policy says so", at)
        for i, step in enumerate(steps, 1):
            if step == "copied":
                o.record_copied(move_id, at + i)
            elif step == "verified":
                o.record_verified(move_id, "sha256:abc", at + i)
            elif step == "committed":
                o.commit_move(move_id, at + i)
            elif step == "reclaimed":
                o.record_source_reclaimed(move_id, at + i)
            elif step == "failed":
                o.fail_move(move_id, "copy timed out", 3, at + i)
            elif step == "aborted":
                o.abort_move(move_id, "operator", at + i)
    app.command("acme", key, act)
