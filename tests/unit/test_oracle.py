"""The oracle's DP against brute force over every schedule, on small cases."""

import itertools

import numpy as np
import pytest

from tiering.domain.costs import DEFAULT_PRICES, CostModel, with_overrides
from tiering.ml.oracle import oracle, schedule_cost
from tiering.ml.usage import COLD, HOT, Usage

DAY = 86_400.0


def usage(rng, n, t, step_s, deaths=False, sizes=None):
    gets = rng.poisson(rng.uniform(0, 3, (n, 1)) * (rng.random((n, t)) < 0.4)).astype(float)
    size = np.array(sizes if sizes is not None else rng.integers(50_000, 50_000_000, n), dtype=float)
    birth = rng.integers(0, 2, n)
    death = np.where(rng.random(n) < 0.4, rng.integers(2, t + 1, n), t) if deaths else np.full(n, t)
    puts = (rng.random((n, t)) < 0.1).astype(float)
    return Usage(gets, gets * size[:, None], puts, size, birth, death, step_s)


def brute(u, model, t0=0, free_start=False, promote=False):
    """The cheapest of every schedule (and, with ``promote``, every set of promoted steps)."""
    best = np.full(u.n, np.inf)
    promos = itertools.product((False, True), repeat=u.t - t0) if promote else [None]
    for flags in promos:
        promo = None
        if flags is not None:
            promo = np.zeros((u.n, u.t), dtype=bool)
            promo[:, t0:] = flags
        for combo in itertools.product(range(3), repeat=u.t - t0):
            x = np.zeros((u.n, u.t), dtype=int)
            x[:, t0:] = combo
            best = np.minimum(best, schedule_cost(u, x, model, t0, free_start, promo=promo).per_object)
    return best


MODELS = [
    CostModel(),
    # short steps against long minimum durations: early deletion dominates
    with_overrides(CostModel(), {"warm": {"min_storage_days": 2}, "cold": {"min_storage_days": 3}}),
    # cheap cold, costly transitions
    with_overrides(CostModel(), {"cold": {"storage_gb_month": 0.0005, "transition_per_1k": 40.0},
                                 "warm": {"transition_per_1k": 5.0}}),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("step_days", [1.0, 20.0])
def test_dp_matches_brute_force(model, step_days):
    rng = np.random.default_rng(7)
    u = usage(rng, 12, 6, step_days * DAY, deaths=True)
    cost, x, promo = oracle(u, model, promote=False)
    assert not promo.any()
    np.testing.assert_allclose(cost, brute(u, model), rtol=1e-9, atol=1e-15)
    # the schedule it returns really costs that much
    np.testing.assert_allclose(schedule_cost(u, x, model).per_object, cost, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("model", MODELS[:2])
def test_dp_with_free_start_matches_brute_force(model):
    rng = np.random.default_rng(3)
    u = usage(rng, 10, 6, 5 * DAY)
    cost, x, _ = oracle(u, model, t0=2, promote=False)
    np.testing.assert_allclose(cost, brute(u, model, t0=2, free_start=True), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(schedule_cost(u, x, model, 2, free_start=True).per_object, cost, rtol=1e-9)


def test_idle_large_object_goes_cold_busy_one_stays_hot():
    t, step = 12, 30 * DAY
    gets = np.zeros((2, t))
    gets[1] = 5_000
    size = np.array([10e9, 10e9])
    u = Usage(gets, gets * size[:, None], np.zeros((2, t)), size, np.zeros(2, int), np.full(2, t), step)
    _, x, _ = oracle(u, CostModel())
    assert (x[0, 1:] == COLD).all()
    assert (x[1] == HOT).all()


def test_early_deletion_is_charged_when_leaving_early():
    size = np.array([1e9])
    u = Usage(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)), size, np.zeros(1, int), np.array([2]), DAY)
    c = schedule_cost(u, np.array([[COLD, COLD, COLD]]), CostModel())
    p = DEFAULT_PRICES
    from tiering.domain.tiers import Tier
    rate = p[Tier.COLD].storage_gb_month / 1024 ** 3 / (30 * DAY)
    # deleted after 2 days in cold: 88 more days are billed
    assert c.components["early_deletion"] == pytest.approx(rate * 1e9 * 88 * DAY)
    assert c.moves == 1


def bursty(rng, n, t, step_s):
    """Long quiet spells and sudden busy steps: where promoting at the first
    access of a burst beats both staying cold and moving up a step early."""
    gets = np.where(rng.random((n, t)) < 0.3, rng.integers(1, 400, (n, t)), 0).astype(float)
    size = rng.integers(200_000, 2_000_000_000, n).astype(float)
    puts = (rng.random((n, t)) < 0.5).astype(float)
    return Usage(gets, gets * size[:, None], puts, size, rng.integers(0, 2, n),
                 np.where(rng.random(n) < 0.3, rng.integers(2, t + 1, n), t), step_s)


# A promoted step is billed like a move to hot at the step's start except
# for its first access, billed in the tier it leaves; so a knowing oracle
# promotes only where that first access is cheaper there: here a GET is free
# in cold and dear in hot, and a PUT is dear in cold.
PROMOTING = with_overrides(CostModel(), {
    "hot": {"get_per_1k": 5.0},
    "cold": {"get_per_1k": 0.0, "put_per_1k": 50.0, "retrieval_gb": 0.0, "min_storage_days": 10}})


@pytest.mark.parametrize("model,step_days,promotes", [
    (MODELS[0], 20.0, False), (MODELS[1], 1.0, False), (MODELS[2], 20.0, False),
    (PROMOTING, 20.0, True)])
def test_dp_with_promotion_matches_brute_force(model, step_days, promotes):
    rng = np.random.default_rng(11)
    u = bursty(rng, 10, 5, step_days * DAY)
    cost, x, promo = oracle(u, model)
    np.testing.assert_allclose(cost, brute(u, model, promote=True), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(schedule_cost(u, x, model, promo=promo).per_object, cost,
                               rtol=1e-9, atol=1e-15)
    without = oracle(u, model, promote=False)[0]
    assert (cost <= without * (1 + 1e-12)).all()
    assert promo.any() == promotes
    assert (cost < without * (1 - 1e-9)).any() == promotes


def test_dp_with_promotion_and_free_start_matches_brute_force():
    rng = np.random.default_rng(4)
    u = bursty(rng, 8, 6, 5 * DAY)
    cost, x, promo = oracle(u, PROMOTING, t0=2)
    assert promo[:, 2:].any()
    np.testing.assert_allclose(cost, brute(u, PROMOTING, t0=2, free_start=True, promote=True),
                               rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(schedule_cost(u, x, PROMOTING, 2, free_start=True, promo=promo).per_object,
                               cost, rtol=1e-9)


def test_a_promoted_step_bills_the_first_get_cold_and_the_rest_hot():
    size, gets = 1e9, 10.0
    g = np.array([[0.0, 0.0, gets]])
    u = Usage(g, g * size, np.zeros((1, 3)), np.array([size]), np.zeros(1, int), np.array([3]), DAY)
    x = np.array([[HOT, COLD, COLD]])
    promo = np.array([[False, False, True]])
    plain, promoted = schedule_cost(u, x, CostModel()), schedule_cost(u, x, CostModel(), promo=promo)
    from tiering.domain.tiers import Tier
    p = DEFAULT_PRICES
    gb = size / 1024 ** 3
    first = p[Tier.COLD].get_per_1k / 1000 + gb * p[Tier.COLD].retrieval_gb
    rest = (gets - 1) * p[Tier.HOT].get_per_1k / 1000
    assert promoted.components["requests"] + promoted.components["retrieval"] == pytest.approx(first + rest)
    assert plain.components["retrieval"] == pytest.approx(gets * gb * p[Tier.COLD].retrieval_gb)
    assert promoted.moves == plain.moves + 1
    assert promoted.components["transition"] == pytest.approx(
        plain.components["transition"] + p[Tier.HOT].transition_per_1k / 1000)
    # promoted after 1 day in cold, and billed hot for the day of the promotion
    rate = lambda tier: p[tier].storage_gb_month / 1024 ** 3 / (30 * DAY)  # noqa: E731
    assert promoted.components["early_deletion"] == pytest.approx(rate(Tier.COLD) * size * 89 * DAY)
    assert promoted.components["storage"] == pytest.approx(
        (2 * rate(Tier.HOT) + rate(Tier.COLD)) * size * DAY)
    assert promoted.get_bytes_by_tier[COLD] == pytest.approx(size)
    assert promoted.get_bytes_by_tier[HOT] == pytest.approx(size * (gets - 1))
