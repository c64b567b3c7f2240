"""replay-trace --time-scale: event time stretched around the first record."""

from tiering.app.cli import _stretched
from tiering.domain.records import AccessRecord, Op


def test_event_time_is_stretched_from_the_first_record():
    recs = [AccessRecord(100.0, "t", "a", Op.PUT, 1), AccessRecord(101.5, "t", "a", Op.GET, None),
            AccessRecord(110.0, "t", "b", Op.PUT, 2)]
    out = list(_stretched(iter(recs), 4800))
    assert [r.ts for r in out] == [100.0, 100.0 + 1.5 * 4800, 100.0 + 10 * 4800]
    assert [(r.key, r.op, r.size) for r in out] == [(r.key, r.op, r.size) for r in recs]
    assert list(_stretched(iter(recs), 1.0)) == recs
