"""Ours' guard estimators, its training labels and the per-trace choice among candidates."""

import numpy as np
import pytest

from tests.support.policy_usage import DAY, SaysCold, run, usage
from tiering.domain.costs import CostModel
from tiering.ml.features import FeatureBuilder
from tiering.ml.oracle import schedule_cost
from tiering.ml.policies import Ours
from tiering.ml.usage import COLD, HOT


def test_settled_estimator_sends_a_write_once_object_down_after_its_first_day():
    g = np.zeros((1, 60))
    g[0, 0] = 50  # read hard on the day it appears, never again
    u = usage(g, [1e9])
    settled = run(Ours(SaysCold(), rate_mode="settled", dwell_days=3), u)[0]
    busiest = run(Ours(SaysCold(), rate_mode="busiest", dwell_days=3), u)[0]
    assert (settled[:3] == HOT).all() and settled[3] == COLD
    # the lifetime rate still counts the first day's 50 GB of reads
    assert (busiest[:30] == HOT).all()
    cm = CostModel()
    cost = lambda x: schedule_cost(u, x.reshape(1, -1), cm).total  # noqa: E731
    assert cost(settled) < cost(busiest)


def test_settled_estimator_keeps_an_object_busy_after_its_first_day_hot():
    g = np.zeros((1, 60))
    g[0, :] = 5  # read every day
    u = usage(g, [1e9])
    assert (run(Ours(SaysCold(), rate_mode="settled", dwell_days=3), u) == HOT).all()


def test_a_week_window_sends_an_object_down_a_week_after_its_burst_not_a_month():
    g = np.zeros((1, 90))
    g[0, 1:6] = 40  # read hard for five days after the day it appeared, then never again
    u = usage(g, [1e9])
    week = run(Ours(SaysCold(), rate_mode="fresh", rate_days=7, dwell_days=3), u)[0]
    month = run(Ours(SaysCold(), rate_mode="fresh", dwell_days=3), u)[0]
    first_cold = lambda x: int(np.flatnonzero(x == COLD)[0])  # noqa: E731
    # the 7-day rate is zero on day 13, the 30-day one only once the burst is a month old
    assert (week[:13] == HOT).all() and 13 <= first_cold(week) <= 14
    assert first_cold(month) >= 30
    cm = CostModel()
    cost = lambda x: schedule_cost(u, x.reshape(1, -1), cm).total  # noqa: E731
    assert cost(week) < cost(month)


def test_only_the_recent_use_estimators_come_with_a_week_window():
    from tiering.ml.learn import CANDIDATES
    week = {n: c for n, c in CANDIDATES.items() if c["rate_days"] == 7}
    assert week and {c["rate_mode"] for c in week.values()} == {"recent", "fresh"}
    assert all("7-dwell" in n for n in week) and len(CANDIDATES) == 24


def test_recent_use_pulls_an_object_up_even_when_the_model_says_cold():
    g = np.zeros((1, 60))
    g[0, 30:] = 20  # idle for a month, then read every day
    u = usage(g, [1e9])
    pol = Ours(SaysCold(), rate_mode="settled", dwell_days=3)
    x = run(pol, u)[0]
    assert x[20] == COLD and x[33] == HOT and (x[33:] == HOT).all()


def _write_once_or_busy():
    """Objects appear on days 0..179; even ones are written once and never
    touched again, odd ones are read in full every day."""
    n, t = 60, 240
    birth = np.arange(n) * 3
    gets, puts = np.zeros((n, t)), np.zeros((n, t))
    for i, b in enumerate(birth):
        puts[i, b] = 1
        if i % 2:
            gets[i, b:] = 20
    size = np.full(n, 2e9) + np.arange(n) % 2  # size alone does not tell them apart
    return usage(gets, size, puts=puts, birth=birth), 120


def test_oracle_labels_with_regret_weights_learn_write_once_objects():
    from tiering.ml.learn import build_ours, train

    u, split = _write_once_or_busy()
    groups = np.zeros(u.n)
    tr = train(u, groups, u.gets, CostModel(), split, labels="oracle", weighted=0.1)
    assert tr.clf is not None and tr.label_counts["hot"] > 0 and tr.label_counts["cold"] > 0
    pol, _ = build_ours(u, groups, u.gets, CostModel(), split, "oracle-settled-dwell3")
    x = run(pol, u, u.gets)
    late = np.flatnonzero(u.birth >= split)
    once, busy = late[late % 2 == 0], late[late % 2 == 1]
    assert (x[once, u.birth[once] + 4] == COLD).all()
    assert (x[busy, u.birth[busy] + 4] == HOT).all()
    cm = CostModel()
    assert schedule_cost(u, x, cm, split).total < schedule_cost(u, np.zeros_like(x), cm, split).total


def test_training_labels_stop_at_the_split():
    from tiering.ml.learn import train

    u, split = _write_once_or_busy()
    before = train(u, np.zeros(u.n), u.gets, CostModel(), split, labels="oracle", weighted=0.1)
    u.gets[:, split:], u.get_bytes[:, split:] = 0, 0  # whatever happens after the split
    after = train(u, np.zeros(u.n), u.gets, CostModel(), split, labels="oracle", weighted=0.1)
    assert before.label_counts == after.label_counts and before.train_accuracy == after.train_accuracy


def test_holding_ours_never_moves_down_but_still_raises():
    g = np.zeros((2, 60))
    g[1, 30:] = 20  # the second is read every day from day 30
    u = usage(g, [50e9, 50e9])
    held = Ours(SaysCold(), horizon_days=120, hold=True)
    assert (run(held, u) == HOT).all()  # the free Ours would send the idle one cold on day 7
    assert run(Ours(SaysCold(), horizon_days=120), u)[0, 7] == COLD
    # an object a former version left in cold is still brought up when it pays
    fb = FeatureBuilder(u, np.zeros(u.n), None)
    held.prepare(u, fb, CostModel())
    fb.advance(40)
    out = held.guard(40, np.array([COLD, COLD]), np.array([40.0, 40.0]), np.array([COLD, HOT]))
    assert list(out) == [COLD, HOT]


def test_choice_keeps_still_when_the_pick_did_nothing_on_the_training_folds():
    """Objects busy every training day, idle after: no candidate moves
    anything on the folds, so the untried pick is replaced by keeping still,
    where the pick's idle rule would have moved them once idle for 30 days."""
    from tiering.ml.learn import CANDIDATES, ESTABLISHED, HOLD, NEWCOMERS, build_ours, choose_ours

    n, t, split = 3, 90, 40
    g = np.zeros((n, t))
    g[:, :split] = 2
    u = usage(g, [20e9] * n)
    groups, cm = np.zeros(n), CostModel()
    choice = choose_ours(u, groups, u.gets, cm, split)
    costs = choice.validation_usd[ESTABLISHED]
    assert choice.config == HOLD and set(costs) == {*CANDIDATES, HOLD}
    assert all(c == pytest.approx(costs[HOLD], rel=1e-9) for c in costs.values())
    assert choice.tied_with() == list(CANDIDATES)  # every candidate did what keeping still does
    # no object was born inside a fold: the newcomers' pick was never tried either
    assert choice.newcomer_config == HOLD
    assert all(c == [0.0, 0.0] for c in choice.validation_usd[NEWCOMERS].values())
    held, _ = build_ours(u, groups, u.gets, cm, split, HOLD)
    assert held.hold and (run(held, u, u.gets) == HOT).all()
    # what a tie could have picked instead: the last month's rate lets it go down
    untried, _ = build_ours(u, groups, u.gets, cm, split, "horizon-recent-dwell7")
    assert (run(untried, u, u.gets)[:, -1] != HOT).all()
    # each fold prices keeping still over twice its own length (40 and 28
    # days, both short of the 60-day horizon), not just the days it covers
    day = schedule_cost(u.head(split), np.zeros((n, split), int), cm, split - 1).total
    assert costs[HOLD] == pytest.approx([day * 40, day * 28], rel=1e-9)


def test_a_fold_s_end_state_is_carried_on_toward_the_horizon():
    from tiering.ml.learn import running_cost_to_horizon
    from tiering.ml.usage import Prices, step_components

    g = np.zeros((3, 20))
    g[2, :] = 4  # read every day
    u, cm = usage(g, [1e9, 1e9, 1e9]), CostModel()
    pr = Prices.of(cm, u.size)
    per_step = sum(step_components(u, pr).values())
    x = np.zeros((3, 20), int)
    x[1, 10:] = COLD
    x[2, 10:] = COLD
    promo = np.zeros((3, 20), bool)
    idle_day = pr.billable * pr.rate * DAY  # (N, K) storage of a day
    # a 6-day fold (days 14-19) is carried on for 6 more days, not the 54 it is short of 60
    only_idle = running_cost_to_horizon(u.subset([0, 1]), cm, x[:2], promo[:2], 14, 60, 7)
    assert only_idle == pytest.approx([6 * idle_day[0, HOT], 6 * idle_day[1, COLD]], rel=1e-9)
    # the object read in cold carries cold's request and retrieval prices on
    in_cold = running_cost_to_horizon(u, cm, x, promo, 14, 60, 7)
    assert in_cold[:2] == pytest.approx(only_idle, rel=1e-9) and in_cold[2] > 6 * idle_day[2, COLD]
    # promoted at each day's first read, it ends each day hot and carries hot's prices
    promo[2, 10:] = True
    promoted = running_cost_to_horizon(u, cm, x, promo, 14, 60, 7)
    assert promoted[2] == pytest.approx(6 * per_step[2, 19, HOT], rel=1e-9)
    # a fold already as long as the horizon carries nothing on; nor does one
    # near it (10 days short here): it never carries on past the horizon
    assert (running_cost_to_horizon(u, cm, x, promo, 0, 20, 7) == 0).all()
    assert running_cost_to_horizon(u.subset([0]), cm, x[:1], promo[:1], 0, 30, 7) == \
        pytest.approx([10 * idle_day[0, HOT]], rel=1e-9)


def test_ties_are_the_candidates_with_the_pick_s_cost_on_every_fold():
    from tiering.ml.learn import CANDIDATES, tied_with

    names = list(CANDIDATES)
    costs = {n: [1.0 + i, 2.0] for i, n in enumerate(names)}
    costs[names[5]] = [1.0, 2.0 * (1 + 1e-12)]  # rounding, not a difference
    costs[names[7]] = [1.0, 2.1]  # same on one fold only
    assert tied_with(names[0], costs) == [names[5]]


def test_newcomers_get_their_own_guard_settings():
    """Two objects alike but for their birth: the one born before the model's
    training range ended goes down under the established settings; the
    newcomer, born at the split, keeps still under its own."""
    g = np.zeros((2, 80))
    g[0, 0] = g[1, 30] = 50  # read hard on the day each appears, never again
    u = usage(g, [20e9, 20e9], birth=np.array([0, 30]))
    free = dict(rate_mode="settled", dwell_days=3, hold=False)
    mixed = Ours(SaysCold(), **free, newcomer={**free, "hold": True}, newcomers_from=30)
    x = run(mixed, u)
    assert x[0, 3] == COLD and (x[1, 30:] == HOT).all()
    # the same settings for both classes: both go down, three days after birth
    same = run(Ours(SaysCold(), **free, newcomer=free, newcomers_from=30), u)
    assert same[0, 3] == COLD and same[1, 33] == COLD
    # a newcomer's dwell and estimator are its own: a 7-day dwell, the busiest
    # rate (the first day's reads count) keeps it hot for a month
    slow = run(Ours(SaysCold(), **free, newcomer={"rate_mode": "busiest", "dwell_days": 7},
                    newcomers_from=30), u)
    assert slow[0, 3] == COLD and (slow[1, 30:60] == HOT).all()
    with pytest.raises(ValueError, match="newcomer settings"):
        Ours(newcomer={"dwell": 7})
    with pytest.raises(ValueError, match="newcomer rate_mode"):
        Ours(newcomer={"rate_mode": "lindy"})


def test_the_newcomers_pick_is_priced_on_the_objects_born_inside_each_fold():
    """Newcomers' validation costs are those of the objects born after the
    fold's own split, and the established pick's those of the others."""
    from tiering.ml.learn import CANDIDATES, ESTABLISHED, HOLD, NEWCOMERS, build_ours, choose_ours

    n, split = 4, 60
    g = np.zeros((n, 90))
    g[:2, :split] = 2  # two old objects, busy through the training range
    g[2:, 35:split] = 2  # two born on day 35: inside the 4/6 fold's (day 40) training, not the 3/6's (day 30)
    u = usage(g, [20e9] * n, birth=np.array([0, 0, 35, 35]))
    groups, cm = np.zeros(n), CostModel()
    choice = choose_ours(u, groups, u.gets, cm, split)
    kept = choice.validation_usd
    # keeping still, everything stays hot: price it per object independently
    head = u.head(split)
    hot = schedule_cost(head, np.zeros((n, split), int), cm, split - 1).per_object  # one day each
    carry = [split - 30, split - 40]  # each fold's days, carried on as many again (short of 60)
    # in the first fold the newcomers live its last 25 days, and carry on its 30
    assert kept[NEWCOMERS][HOLD] == pytest.approx([hot[2:].sum() * (25 + carry[0]), 0.0], rel=1e-9)
    assert kept[ESTABLISHED][HOLD] == pytest.approx(
        [hot[:2].sum() * 2 * carry[0], hot.sum() * 2 * carry[1]], rel=1e-9)
    # the newcomers' pick shares the established pick's forest (its label kind)
    label = "horizon" if choice.config == HOLD else CANDIDATES[choice.config]["labels"]
    assert choice.newcomer_config == HOLD or CANDIDATES[choice.newcomer_config]["labels"] == label
    with pytest.raises(ValueError, match="labels"):
        build_ours(u, groups, u.gets, cm, split, "oracle-settled-dwell3",
                   newcomer_config="horizon-settled-dwell3")
