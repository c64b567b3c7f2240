"""One rule for small objects: 128 KiB or less is small, in the simulator's
S3 Intelligent-Tiering, the evaluator's monitoring fee and the read models'
cost comparison alike (they once disagreed at exactly 128 KiB)."""

import numpy as np

from tests.unit.test_projections_scopes import build
from tiering.domain.application import ObjectLogApplication
from tiering.domain.costs import SMALL_OBJECT_BYTES, is_small_object
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.projections.insights import Insights

H = 1_800_000_000.0


def test_the_rule_at_the_boundary_for_scalars_and_arrays():
    assert is_small_object(SMALL_OBJECT_BYTES) and not is_small_object(SMALL_OBJECT_BYTES + 1)
    sizes = np.array([1, SMALL_OBJECT_BYTES, SMALL_OBJECT_BYTES + 1])
    assert is_small_object(sizes).tolist() == [True, True, False]


def test_the_cost_comparison_monitors_only_objects_over_128_kib(tmp_path):
    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    sizes = {"exact": SMALL_OBJECT_BYTES, "over": SMALL_OBJECT_BYTES + 1, "under": 1000}
    app.ingest(parse_batch([{"ts": H, "tenant": "acme", "key": k, "op": "PUT", "size": s}
                            for k, s in sizes.items()]), "b1")
    for key in sizes:
        for step in (lambda o: o.request_move("mv", Tier.WARM, "idle", H),
                     lambda o: o.record_copied("mv", H), lambda o: o.record_verified("mv", "c", H),
                     lambda o: o.commit_move("mv", H)):
            app.command("acme", key, step)
    events = [app.mapper.to_domain_event(n)
              for n in app.recorder.select_notifications(start=1, limit=100)]
    rm, _ = build(tmp_path, "small", events, len(events))
    it = Insights(rm).cost_comparison()["parts"]["intelligent_tiering"]
    assert it["monitored_objects"] == 1
