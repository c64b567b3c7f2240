"""Per-tier parameters, and overrides per tenant and key prefix."""

import pytest

from tiering.adapters.policy_file import dump_policy, load_policy_file
from tiering.domain.costs import DEFAULT_PRICES, IT_PRICES, CostModel, monitoring_fee_usd, with_overrides
from tiering.domain.policy_config import PolicyConfig
from tiering.domain.tiers import Tier

GB = 1024 ** 3


def test_defaults_follow_the_facts_sheet():
    warm, cold = DEFAULT_PRICES[Tier.WARM], DEFAULT_PRICES[Tier.COLD]
    assert (warm.storage_gb_month, warm.retrieval_gb, warm.min_storage_days) == (0.0125, 0.01, 30)
    assert (cold.transition_per_1k, cold.min_billable_bytes) == (0.02, 128 * 1024)
    m = CostModel()
    assert m.transition_usd("warm", 1000) == pytest.approx(0.01)
    # leaving cold after 30 of its 90 days bills 60 more days of storage
    assert m.early_deletion_usd("cold", GB, 30 * 86_400) == pytest.approx(0.004 * 2)
    # a 1 KB object is billed as 128 KB in warm
    assert m.billable_bytes("warm", 1024) == 128 * 1024


def test_with_overrides_changes_only_the_named_fields():
    m = with_overrides(CostModel(), {"cold": {"min_storage_days": 180, "retrieval_gb": 0.05}})
    assert m.tier_prices("cold").min_storage_days == 180
    assert m.tier_prices("cold").retrieval_gb == 0.05
    assert m.tier_prices("cold").storage_gb_month == 0.004
    assert m.tier_prices("hot") == DEFAULT_PRICES[Tier.HOT]


@pytest.mark.parametrize("bad, words", [
    ({"lukewarm": {"storage_gb_month": 1}}, "unknown tier"),
    ({"warm": {"storage_per_gb": 1}}, "unknown price field"),
    ({"warm": {"retrieval_gb": -1}}, ">= 0"),
])
def test_bad_overrides_are_refused(bad, words):
    with pytest.raises(ValueError, match=words):
        with_overrides(CostModel(), bad)


CONFIG = {
    "defaults": {"warm": {"storage_gb_month": 0.01}},
    "tenants": {"acme": {"cold": {"min_storage_days": 180}}},
    "prefixes": [
        {"prefix": "logs/", "warm": {"retrieval_gb": 0.02}},
        {"prefix": "logs/2026/", "tenant": "acme", "warm": {"retrieval_gb": 0.03}},
    ],
}


def test_layers_resolve_defaults_then_tenant_then_longest_prefix():
    cfg = PolicyConfig.from_dict(CONFIG)
    other = cfg.model_for("zeta", "data/x")
    assert other.tier_prices("warm").storage_gb_month == 0.01
    assert other.tier_prices("cold").min_storage_days == 90
    acme = cfg.model_for("acme", "logs/2026/a")
    assert acme.tier_prices("cold").min_storage_days == 180
    assert acme.tier_prices("warm").retrieval_gb == 0.03
    assert cfg.model_for("zeta", "logs/2026/a").tier_prices("warm").retrieval_gb == 0.02
    assert cfg.signature("zeta", "logs/a") == cfg.signature("zeta", "logs/b")
    assert cfg.signature("zeta", "logs/a") != cfg.signature("acme", "logs/a")


@pytest.mark.parametrize("bad, words", [
    ({"tenantz": {}}, "unknown section"),
    ({"tenants": {"acme": {"hot": {"nope": 1}}}}, "tenants.acme"),
    ({"prefixes": [{"warm": {}}]}, "prefixes\\[0\\]"),
    ({"prefixes": [{"prefix": "a/", "colour": 1}]}, "unknown field"),
])
def test_bad_policy_documents_say_where(bad, words):
    with pytest.raises(ValueError, match=words):
        PolicyConfig.from_dict(bad)


def test_yaml_round_trip(tmp_path):
    cfg = PolicyConfig.from_dict(CONFIG)
    f = tmp_path / "policy.yaml"
    f.write_text(dump_policy(cfg))
    again = load_policy_file(f)
    assert again.to_dict() == cfg.to_dict()
    f.write_text("tenants: [1, 2")
    with pytest.raises(ValueError, match="policy.yaml"):
        load_policy_file(f)


def test_intelligent_tiering_price_book_and_fee():
    assert [IT_PRICES[t].storage_gb_month for t in Tier] == [0.023, 0.0125, 0.004]
    assert all(IT_PRICES[t].retrieval_gb == 0 and IT_PRICES[t].min_storage_days == 0 for t in Tier)
    assert monitoring_fee_usd(1000, 30 * 86_400) == pytest.approx(0.0025)
