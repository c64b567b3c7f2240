"""The cost model: list prices from tiering-facts.md, pure arithmetic."""

from __future__ import annotations

import pytest

from tiering.domain.costs import DEFAULT_PRICES, GB, MONTH_S, SMALL_OBJECT_BYTES, CostModel, TierPrices
from tiering.domain.tiers import Tier

costs = CostModel()


def test_defaults_follow_the_reference_prices():
    hot, warm, cold = (DEFAULT_PRICES[t] for t in (Tier.HOT, Tier.WARM, Tier.COLD))
    assert (hot.storage_gb_month, warm.storage_gb_month, cold.storage_gb_month) == \
        (0.023, 0.0125, 0.004)
    assert (hot.retrieval_gb, warm.retrieval_gb, cold.retrieval_gb) == (0, 0.01, 0.03)
    assert (warm.min_storage_days, cold.min_storage_days) == (30, 90)
    assert warm.min_billable_bytes == cold.min_billable_bytes == 128 * 1024
    assert hot.min_billable_bytes == 0


def test_monthly_storage_is_price_times_gigabytes():
    assert costs.monthly_storage_usd("hot", 10 * GB, 1) == pytest.approx(0.23)
    assert costs.monthly_storage_usd(Tier.COLD, GB, 1) == pytest.approx(0.004)


def test_small_objects_are_billed_at_the_minimum_size():
    assert costs.monthly_storage_usd("hot", 1000, 1) == pytest.approx(0.023 * 1000 / GB)
    tiny = costs.monthly_storage_usd("warm", 1000, 1)
    assert tiny == pytest.approx(0.0125 * SMALL_OBJECT_BYTES / GB)
    # Without a split the floor applies to the total: a lower bound for mixes.
    assert costs.billable_bytes("warm", GB + 1000, 2) == GB + 1000
    # With the small objects known it is exact.
    assert costs.billable_bytes("warm", GB + 1000, 2, small_objects=1, small_bytes=1000) == \
        GB + SMALL_OBJECT_BYTES


def test_requests_are_priced_by_class():
    assert costs.request_usd("hot", "GET", 1000) == pytest.approx(0.0004)
    assert costs.request_usd("hot", "head", 1000) == pytest.approx(0.0004)
    assert costs.request_usd("warm", "PUT", 1000) == pytest.approx(0.01)
    assert costs.request_usd("cold", "COPY", 2000) == pytest.approx(0.04)
    assert costs.request_usd("cold", "DELETE", 10**6) == 0.0
    with pytest.raises(KeyError):
        costs.request_usd("hot", "LIST", 1)


def test_retrieval_and_transitions():
    assert costs.retrieval_usd("hot", 5 * GB) == 0
    assert costs.retrieval_usd("cold", 2 * GB) == pytest.approx(0.06)
    assert costs.transition_usd("warm", 1000) == pytest.approx(0.01)
    assert costs.transition_usd("cold", 500) == pytest.approx(0.01)


def test_early_deletion_bills_the_rest_of_the_minimum():
    assert costs.early_deletion_seconds("hot", 0) == 0
    assert costs.early_deletion_seconds("warm", 10 * 86400) == 20 * 86400
    assert costs.early_deletion_seconds("cold", 100 * 86400) == 0
    assert costs.early_deletion_usd("warm", GB, 0) == pytest.approx(0.0125)
    assert costs.early_deletion_usd("cold", GB, 45 * 86400) == pytest.approx(0.004 * 45 / 30)


def test_prices_are_parameters():
    custom = CostModel({**DEFAULT_PRICES, Tier.HOT: TierPrices(0.1, get_per_1k=1.0)})
    assert custom.monthly_storage_usd("hot", GB) == pytest.approx(0.1)
    assert custom.request_usd("hot", "GET", 10) == pytest.approx(0.01)
    assert custom.storage_usd("hot", GB * MONTH_S) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        custom.tier_prices("glacier")
