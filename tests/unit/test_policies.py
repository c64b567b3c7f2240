"""The rule baselines, the seed's model, and ours' fallback, guard and hysteresis."""

import numpy as np
import pytest

from tests.support.policy_usage import DAY, SaysCold, T, Unsure, run, schedule, usage
from tiering.domain.costs import CostModel
from tiering.ml.oracle import schedule_cost
from tiering.ml.policies import AlwaysHot, Autoclass, IntelligentTiering, Lifecycle, Ours, Seed, seed_model
from tiering.ml.usage import COLD, HOT, WARM, Prices, access_premium, promotion_pays, promotion_price


def test_always_hot_and_lifecycle():
    u = usage(np.ones((1, T)), [1e6])
    assert (run(AlwaysHot(), u) == HOT).all()
    x = run(Lifecycle(), u)[0]
    assert (x[:30] == HOT).all() and (x[30:90] == WARM).all() and (x[90:] == COLD).all()


def test_intelligent_tiering_idles_down_and_a_get_brings_it_back():
    g = np.zeros((2, T))
    g[:, 0] = 1
    g[:, 120] = 1
    u = usage(g, [10e6, 100e3])
    x = run(IntelligentTiering(), u)
    big, small = x
    # idle days count from the end of the day of the last access
    assert (big[1:31] == HOT).all() and (big[31:91] == WARM).all() and (big[91:121] == COLD).all()
    assert big[121] == HOT and big[151] == WARM
    assert (small == HOT).all()  # <= 128 KB is never tiered


def test_head_does_not_keep_objects_in_intelligent_tiering_or_autoclass_hot():
    heads = np.ones((1, T))
    u = usage(heads, [10e6])
    reads = np.zeros((1, T))  # all of them HEADs
    assert run(IntelligentTiering(), u, reads)[0, 100] == COLD
    # autoclass only counts reads: PUTs do not keep it in Standard
    puts = np.ones((1, T))
    u2 = usage(np.zeros((1, T)), [10e6], puts=puts)
    assert run(Autoclass(), u2, np.zeros((1, T)))[0, 100] == COLD
    assert run(IntelligentTiering(), u2, np.zeros((1, T)))[0, 100] == HOT


def test_seed_model_reproduces_its_synthetic_classes():
    clf = seed_model()
    pred = clf.predict(np.array([[500, 10, 1e6], [30, 120, 10e9], [2, 600, 50e9]]))
    assert list(pred) == [HOT, WARM, COLD]
    # the latency leak: a hot object with no accesses stays hot
    u = usage(np.zeros((1, 60)), [1e6])
    assert (run(Seed(), u) == HOT).all()


def test_ours_without_a_model_uses_the_rule_fallback_behind_the_guard():
    g = np.zeros((2, T))
    g[:, 0] = 1
    u = usage(g, [10e9, 200e3])
    x = run(Ours(), u)
    assert x[0, 40] == WARM and x[0, 100] == COLD
    # a 200 KB object saves too little over the horizon to pay for the move
    assert (x[1] == HOT).all()


def test_ours_does_not_thrash_on_alternating_access():
    g = np.zeros((1, T))
    g[0, ::35] = 50  # a burst every 35 days
    u = usage(g, [5e9])
    ours, it = schedule(Ours(), u), schedule(IntelligentTiering(), u)
    cm = CostModel()
    c_ours, c_it = (schedule_cost(u, s.x, cm, promo=s.promo) for s in (ours, it))
    assert c_ours.moves <= c_it.moves
    assert c_ours.total <= c_it.total


def test_promotion_brings_an_object_back_at_its_first_access_within_the_step():
    g = np.zeros((1, T))
    g[0, 0] = 1
    g[0, 120] = 100  # a burst after 119 idle days: IT has it in archive instant
    u = usage(g, [10e9])
    s = schedule(IntelligentTiering(), u)
    assert s.x[0, 120] == COLD and s.promo[0, 120] and s.promo.sum() == 1
    assert s.x[0, 121] == HOT
    cm = CostModel()
    promoted, unpromoted = schedule_cost(u, s.x, cm, promo=s.promo), schedule_cost(u, s.x, cm)
    # one GET of the burst is read from cold instead of all hundred
    gb = 10e9 / 1024 ** 3
    assert promoted.get_bytes_by_tier[COLD] == unpromoted.get_bytes_by_tier[COLD] / 100
    assert unpromoted.components["retrieval"] - promoted.components["retrieval"] == \
        pytest.approx(99 * gb * 0.03)
    # the promotion stands in for the move up that the next step starts with
    assert promoted.moves == unpromoted.moves
    assert promoted.components["transition"] == pytest.approx(unpromoted.components["transition"])


def _cold_from_day(size, first_read_bytes):
    """Usage of one object read once on day 0, and the day ours puts it in cold."""
    g = np.zeros((1, T))
    g[0, 0] = 1
    u = usage(g, size)
    u.get_bytes[0, 0] = first_read_bytes
    x = schedule(Ours(), u).x[0]
    assert (x == COLD).any()
    return g, int(np.argmax(x == COLD))


def _with_reads(g, size, reads: dict[int, tuple[int, float]], first_read_bytes=4096):
    g = g.copy()
    for day, (n, _) in reads.items():
        g[0, day] = n
    u = usage(g, size)
    u.get_bytes[0, 0] = first_read_bytes
    for day, (n, nbytes) in reads.items():
        u.get_bytes[0, day] = n * nbytes
    return u


def test_ours_prices_promotion_a_small_read_of_a_large_cold_object_is_read_in_place():
    size = [2.0 ** 26]  # 64 MiB, read 4 KB at a time
    g, d = _cold_from_day(size, 4096)
    u = _with_reads(g, size, {d + 10: (1, 4096)})
    unpriced, priced = schedule(Ours(promote_priced=False), u), schedule(Ours(), u)
    assert unpriced.promo[0, d + 10] and unpriced.x[0, d + 11] == HOT
    assert not priced.promo.any() and priced.x[0, d + 11] == COLD
    cm = CostModel()
    c_unpriced, c_priced = (schedule_cost(u, s.x, cm, promo=s.promo) for s in (unpriced, priced))
    # leaving cold 10 days in owes 80 days of it; the read in place costs one GET
    assert c_unpriced.components["early_deletion"] > 0 == c_priced.components["early_deletion"]
    assert c_priced.total < c_unpriced.total


def test_ours_prices_promotion_a_burst_in_cold_is_billed_there_then_brought_up():
    size = [2.0 ** 26]
    g, d = _cold_from_day(size, 4096)
    u = _with_reads(g, size, {d + 10: (100, 4096), d + 11: (1, 4096)})
    s = schedule(Ours(), u)
    # the burst's first read cannot know the 99 after it, so it does not promote;
    # the next day starts in hot (the guard prices the move up the burst pays for)
    assert not s.promo[0, d + 10] and s.x[0, d + 10] == COLD and s.x[0, d + 11] == HOT
    # an object read whole: a typical day's read in cold costs more than
    # leaving it, so its first read there promotes at once
    g2, d2 = _cold_from_day(size, 2.0 ** 26)
    whole = schedule(Ours(), _with_reads(g2, size, {d2 + 10: (1, 2.0 ** 26)}, 2.0 ** 26))
    assert whole.promo[0, d2 + 10]


def test_promotion_pays_once_the_premium_reaches_the_early_deletion_owed():
    pr = Prices.of(CostModel(), np.array([2.0 ** 30]))  # 1 GiB
    tier, rows = np.array([COLD]), np.arange(1)
    owed = float(pr.early_deletion(tier, np.array([10.0]), DAY, rows)[0])  # 80 days of cold
    assert owed == pytest.approx(0.004 * 80 / 30, rel=0.02)
    price = owed + float(pr.transition[HOT])
    get_premium = float(access_premium(pr, tier, 1, 0, 0)[0])
    assert get_premium == pytest.approx(0.01 / 1000 - 0.0004 / 1000)
    assert float(promotion_price(pr, tier, np.array([10.0]), DAY, rows)[0]) == price
    pays = lambda since, typical, days=10.0: bool(promotion_pays(  # noqa: E731
        np.array([since]), np.array([typical]), promotion_price(pr, tier, np.array([days]), DAY, rows))[0])
    assert not pays(0.9 * price, 0.0) and pays(price, 0.0)  # the rent paid so far
    assert not pays(0.0, 0.9 * price) and pays(0.0, price)  # or a typical day's
    # after 90 days nothing is owed: any access that pays hot's transition promotes
    assert not pays(0.0, 0.0, days=90.0) and pays(get_premium, 0.0, days=90.0)
    # the retrieval of the bytes read counts too
    assert float(access_premium(pr, tier, 1, 0, 2.0 ** 30)[0]) == pytest.approx(get_premium + 0.03)


def test_which_accesses_promote():
    puts = np.zeros((1, T))
    puts[0, 150] = 1
    u = usage(np.zeros((1, T)), [10e9], puts=puts)
    reads = np.zeros((1, T))
    assert schedule(IntelligentTiering(), u, reads).promo[0, 150]   # a PUT does for IT
    assert not schedule(Autoclass(), u, reads).promo.any()           # not for Autoclass
    assert not schedule(Lifecycle(), u, reads).promo.any()           # lifecycle rules never do
    assert schedule(Ours(promote_priced=False), u, reads).promo[0, 150]  # ours does, unpriced
    assert not schedule(Ours(promote_on=None), u, reads).promo.any()
    # priced (the default), one PUT is worth far less than the 10 GB's early deletion
    assert not schedule(Ours(), u, reads).promo.any()
    heads = np.zeros((1, T))
    heads[0, 150] = 3
    u_heads = usage(heads, [10e9])
    assert not schedule(IntelligentTiering(), u_heads, np.zeros((1, T))).promo.any()  # HEADs do not


def test_ours_falls_back_when_unsure_and_follows_a_confident_model():
    g = np.zeros((1, 60))
    g[0, :5] = 1
    u = usage(g, [50e9])
    unsure = Ours(Unsure())
    assert (run(unsure, u)[0, :30] == HOT).all() and unsure.reasons["fallback"] > 0
    sure = Ours(SaysCold(), horizon_days=120)
    idle = usage(np.zeros((1, 60)), [50e9])
    x = run(sure, idle)[0]
    assert (x[:7] == HOT).all() and x[7] == COLD and sure.reasons["model"] > 0  # 7-day dwell
    # ...but not while the recent reads would make cold dearer than hot
    assert (run(Ours(SaysCold(), horizon_days=120), u)[0, :10] == HOT).all()
    # guard: with a 1-day horizon the same confident "cold" is never worth the move
    assert (run(Ours(SaysCold(), horizon_days=1), idle) == HOT).all()


# ----- the same policies on the live object log ------------------------------------
def _app_with(records):
    from tiering.domain.application import ObjectLogApplication
    from tiering.domain.records import AccessRecord, Op

    app = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for i, (ts, key, op, size) in enumerate(records):
        app.ingest([AccessRecord(ts, "t1", key, Op(op), size)], f"b{i}")
    return app


def test_live_decision_is_recorded_in_the_objects_log():
    from tiering.ml.live import decide_live

    t0 = 1_767_225_600.0
    app = _app_with([(t0, "idle", "PUT", 10 * 2 ** 20), (t0, "busy", "PUT", 10 * 2 ** 20),
                     (t0 + 99 * DAY, "busy", "GET", None)])
    now = t0 + 100 * DAY
    d = decide_live(app, "t1", "idle", IntelligentTiering(), now, version="rules")
    assert (d.current, d.target, d.recorded) == ("hot", "cold", True)
    rec = app.current("t1", "idle").recommendation
    assert rec["target"] == "cold" and rec["policy_id"] == "s3-intelligent-tiering@rules"
    assert rec["at"] == now and any(r.startswith("idle_days=") for r in rec["reasons"])
    assert [h.kind for h in app.history("t1", "idle")][-1] == "TierRecommended"
    busy = decide_live(app, "t1", "busy", IntelligentTiering(), now)
    assert busy.target == "hot" and not busy.recorded
    assert app.current("t1", "busy").recommendation is None


def _move(app, key, target, decided_at):
    """A decision and its move, every step stamped at the tenant's event time."""
    app.command("t1", key, lambda o: o.recommend(target, "ours@rules", 1.0, ["idle"], decided_at))
    mid, at = f"m-{key}-{target}", decided_at
    for step in (lambda o: o.request_move(mid, target, "idle", at),
                 lambda o: o.record_copied(mid, at), lambda o: o.record_verified(mid, "c", at),
                 lambda o: o.commit_move(mid, at), lambda o: o.record_source_reclaimed(mid, at)):
        app.command("t1", key, step)


def test_live_promotion_follows_a_get_or_put_after_the_move_once():
    from tiering.domain.records import AccessRecord, Op
    from tiering.ml.live import decide_objects

    t0 = 1_767_225_600.0
    app = _app_with([(t0, k, "PUT", 10 * 2 ** 20) for k in ("read", "headed", "early")])
    decided = t0 + 100 * DAY
    # a GET just before the decision that sent it down does not bring it back
    app.ingest([AccessRecord(decided - 60, "t1", "early", Op.GET, None)], "early")
    for key in ("read", "headed", "early"):
        _move(app, key, "cold", decided)
    app.ingest([AccessRecord(decided + 3600, "t1", "read", Op.GET, None),
                AccessRecord(decided + 3600, "t1", "headed", Op.HEAD, None)], "after")
    now, keys = decided + 7200, [("t1", k) for k in ("read", "headed", "early")]
    found = decide_objects(app, keys, Ours(), now, promotions_only=True)
    assert [(d.key, d.current, d.target) for d in found] == [("read", "cold", "hot")]
    # the GET read all 10 MiB (its size was not given), and the PUT that wrote it counts in
    # its typical day; leaving cold two hours in owes almost 90 days of it
    get = 0.01 / 1000 - 0.0004 / 1000 + 10 / 1024 * 0.03
    put, owed = 0.02 / 1000 - 0.005 / 1000, 10 / 1024 * 0.004 * (90 - 1 / 12) / 30
    assert found[0].reasons == [f"promoted on access: a GET/PUT/COPY at event time {decided + 3600:.0f}, "
                                f"after it entered cold at {decided:.0f}",
                                f"promotion pays: its accesses there cost ${get:.3g} over hot's prices "
                                f"(a typical day ${(get + put) / 2:.3g}); leaving costs ${owed + 0.005 / 1000:.3g}"]
    # a full round says the same for it, whatever the guard would
    assert [(d.key, d.target) for d in decide_objects(app, keys, Ours(), now)
            if d.key == "read"] == [("read", "hot")]
    assert decide_objects(app, keys, Ours(promote_on=None), now, promotions_only=True) == []
    # once asked, the same access asks no more
    app.command("t1", "read", lambda o: o.recommend("hot", "ours@rules", 1.0, found[0].reasons, now))
    assert decide_objects(app, keys, Ours(), now + 60, promotions_only=True) == []
    # a PUT after that asks again (the first move did not happen, say)
    app.ingest([AccessRecord(now + 120, "t1", "read", Op.PUT, 5)], "again")
    assert [d.key for d in decide_objects(app, keys, Ours(), now + 180, promotions_only=True)] == ["read"]


def test_live_promotion_of_a_large_object_waits_until_its_reads_pay_for_leaving_cold():
    from tiering.domain.records import AccessRecord, Op
    from tiering.ml.live import decide_objects

    t0 = 1_767_225_600.0
    app = _app_with([(t0, "big", "PUT", 2 ** 26)])  # 64 MiB, then read 4 KB at a time
    decided = t0 + 100 * DAY
    _move(app, "big", "cold", decided)
    keys = [("t1", "big")]
    app.ingest([AccessRecord(decided + 3600, "t1", "big", Op.GET, 4096)], "one")
    # one 4 KB GET in cold costs ~$0.00001 more than in hot; leaving owes ~$0.00075
    assert decide_objects(app, keys, Ours(), decided + 7200, promotions_only=True) == []
    assert [d.key for d in decide_objects(app, keys, Ours(promote_priced=False), decided + 7200,
                                          promotions_only=True)] == ["big"]
    # a full round does not move it up either: one read does not pass the guard
    assert decide_objects(app, keys, Ours(), decided + 7200) == []
    # 99 more such GETs have cost more than leaving: now it goes back
    app.ingest([AccessRecord(decided + 3700 + i, "t1", "big", Op.GET, 4096) for i in range(99)], "more")
    found = decide_objects(app, keys, Ours(), decided + 7200, promotions_only=True)
    assert [(d.key, d.target) for d in found] == [("big", "hot")]
    paid = 100 * (0.01 / 1000 - 0.0004 / 1000 + 4096 / 2 ** 30 * 0.03)
    assert found[0].reasons[1].startswith(f"promotion pays: its accesses there cost ${paid:.3g} ")


def test_live_newcomers_are_the_objects_registered_after_the_training_range():
    from tiering.ml.live import decide_objects

    t0 = 1_767_225_600.0
    app = _app_with([(t0, "old", "PUT", 10 * 2 ** 30), (t0 + 40 * DAY, "new", "PUT", 10 * 2 ** 30)])
    keys, now = [("t1", "old"), ("t1", "new")], t0 + 100 * DAY
    free = dict(rate_mode="settled", dwell_days=3)

    def wanted(**newcomers):
        found = decide_objects(app, keys, Ours(SaysCold(), **free, **newcomers), now)
        return {d.key: (d.target, d.reasons[-1]) for d in found}

    # both idle for two months: under one set of settings both go cold
    both = wanted()
    assert {k: t for k, (t, _) in both.items()} == {"old": "cold", "new": "cold"}
    assert not any("newcomer" in r for _, r in both.values())
    # the training range ended on day 30: "new" follows the newcomers' settings
    trained_until = t0 + 30 * DAY
    held = wanted(newcomer={**free, "hold": True}, newcomers_from_time=trained_until)
    assert {k: t for k, (t, _) in held.items()} == {"old": "cold"}
    slow = wanted(newcomer={**free, "dwell_days": 90}, newcomers_from_time=trained_until)
    assert set(slow) == {"old"}  # 60 days in hot is short of the newcomers' 90-day dwell
    same = wanted(newcomer=free, newcomers_from_time=trained_until)
    assert same["new"][1].endswith("(newcomer's settings)") and "newcomer" not in same["old"][1]
    # registered before the range ended, it is established: the newcomers' hold does not apply
    early = wanted(newcomer={**free, "hold": True}, newcomers_from_time=t0 + 50 * DAY)
    assert {k: t for k, (t, _) in early.items()} == {"old": "cold", "new": "cold"}
