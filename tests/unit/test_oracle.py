"""The oracle's DP against brute force over every schedule, on small cases."""

import itertools

import numpy as np
import pytest

from domain.costs import DEFAULT_PRICES, CostModel, with_overrides
from ml.oracle import COLD, HOT, Usage, oracle, schedule_cost

DAY = 86_400.0


def usage(rng, n, t, step_s, deaths=False, sizes=None):
    gets = rng.poisson(rng.uniform(0, 3, (n, 1)) * (rng.random((n, t)) < 0.4)).astype(float)
    size = np.array(sizes if sizes is not None else rng.integers(50_000, 50_000_000, n), dtype=float)
    birth = rng.integers(0, 2, n)
    death = np.where(rng.random(n) < 0.4, rng.integers(2, t + 1, n), t) if deaths else np.full(n, t)
    puts = (rng.random((n, t)) < 0.1).astype(float)
    return Usage(gets, gets * size[:, None], puts, size, birth, death, step_s)


def brute(u, model, t0=0, free_start=False):
    best = np.full(u.n, np.inf)
    for combo in itertools.product(range(3), repeat=u.t - t0):
        x = np.zeros((u.n, u.t), dtype=int)
        x[:, t0:] = combo
        best = np.minimum(best, schedule_cost(u, x, model, t0, free_start).per_object)
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
    cost, x = oracle(u, model)
    np.testing.assert_allclose(cost, brute(u, model), rtol=1e-9, atol=1e-15)
    # the schedule it returns really costs that much
    np.testing.assert_allclose(schedule_cost(u, x, model).per_object, cost, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("model", MODELS[:2])
def test_dp_with_free_start_matches_brute_force(model):
    rng = np.random.default_rng(3)
    u = usage(rng, 10, 6, 5 * DAY)
    cost, x = oracle(u, model, t0=2)
    np.testing.assert_allclose(cost, brute(u, model, t0=2, free_start=True), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(schedule_cost(u, x, model, 2, free_start=True).per_object, cost, rtol=1e-9)


def test_idle_large_object_goes_cold_busy_one_stays_hot():
    t, step = 12, 30 * DAY
    gets = np.zeros((2, t))
    gets[1] = 5_000
    size = np.array([10e9, 10e9])
    u = Usage(gets, gets * size[:, None], np.zeros((2, t)), size, np.zeros(2, int), np.full(2, t), step)
    _, x = oracle(u, CostModel())
    assert (x[0, 1:] == COLD).all()
    assert (x[1] == HOT).all()


def test_early_deletion_is_charged_when_leaving_early():
    size = np.array([1e9])
    u = Usage(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)), size, np.zeros(1, int), np.array([2]), DAY)
    c = schedule_cost(u, np.array([[COLD, COLD, COLD]]), CostModel())
    p = DEFAULT_PRICES
    from domain.tiers import Tier
    rate = p[Tier.COLD].storage_gb_month / 1024 ** 3 / (30 * DAY)
    # deleted after 2 days in cold: 88 more days are billed
    assert c.components["early_deletion"] == pytest.approx(rate * 1e9 * 88 * DAY)
    assert c.moves == 1
