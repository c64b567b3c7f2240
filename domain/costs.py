"""What storing and touching objects costs, per tier.

Pure arithmetic over prices that are always parameters: the defaults are the
November 2026 AWS us-east-1 list prices in shared/reference/tiering-facts.md
(hot = S3 Standard, warm = Standard-IA, cold = Glacier Instant Retrieval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tiering.domain.clock import DAY_S
from tiering.domain.tiers import Tier

GB = 1024 ** 3  # AWS bills "GB" as GiB
MONTH_S = 30 * DAY_S  # billing month used to turn GB-months into seconds
SMALL_OBJECT_BYTES = 128 * 1024  # the minimum billable size of IA-like tiers


def is_small_object(size):
    """Objects of 128 KiB or less: billed as 128 KiB in IA-like tiers, and
    never tiered nor monitored by S3 Intelligent-Tiering. One rule for the
    simulator, the evaluator and the read models (scalars or numpy arrays)."""
    return size <= SMALL_OBJECT_BYTES

# S3 bills HEAD like GET and COPY like PUT; DELETE is free.
_OP_CLASS = {"GET": "get", "HEAD": "get", "PUT": "put", "COPY": "put", "DELETE": None}


@dataclass(frozen=True)
class TierPrices:
    storage_gb_month: float
    retrieval_gb: float = 0.0
    get_per_1k: float = 0.0
    put_per_1k: float = 0.0
    transition_per_1k: float = 0.0  # charged per object moved *into* this tier
    min_storage_days: float = 0.0
    min_billable_bytes: int = 0


DEFAULT_PRICES: Mapping[Tier, TierPrices] = {
    # A move back to hot is a COPY into Standard, so it is priced as a PUT.
    Tier.HOT: TierPrices(0.023, 0.0, 0.0004, 0.005, 0.005, 0, 0),
    Tier.WARM: TierPrices(0.0125, 0.01, 0.001, 0.01, 0.01, 30, SMALL_OBJECT_BYTES),
    Tier.COLD: TierPrices(0.004, 0.03, 0.01, 0.02, 0.02, 90, SMALL_OBJECT_BYTES),
}


@dataclass(frozen=True)
class CostModel:
    prices: Mapping[Tier, TierPrices] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def tier_prices(self, tier: str | Tier) -> TierPrices:
        return self.prices[Tier.parse(tier)]

    def storage_usd(self, tier: str | Tier, byte_seconds: float) -> float:
        """Storage charged for holding ``byte_seconds`` in ``tier``."""
        return self.tier_prices(tier).storage_gb_month * byte_seconds / GB / MONTH_S

    def billable_bytes(self, tier: str | Tier, bytes_: int, objects: int = 1,
                       small_objects: int | None = None, small_bytes: int = 0) -> int:
        """Bytes after the per-object minimum.

        Without a split of the small objects the minimum can only be applied to
        the total (exact for one object, a lower bound for many); with
        ``small_objects``/``small_bytes`` (objects under SMALL_OBJECT_BYTES)
        it is exact whenever the tier's minimum is SMALL_OBJECT_BYTES or zero.
        """
        floor = self.tier_prices(tier).min_billable_bytes
        if not floor:
            return bytes_
        if small_objects is None:
            return max(bytes_, objects * floor)
        return bytes_ - small_bytes + max(small_bytes, small_objects * floor)

    def monthly_storage_usd(self, tier: str | Tier, bytes_: int, objects: int = 1,
                            small_objects: int | None = None, small_bytes: int = 0) -> float:
        billable = self.billable_bytes(tier, bytes_, objects, small_objects, small_bytes)
        return self.storage_usd(tier, billable * MONTH_S)

    def request_usd(self, tier: str | Tier, op: str, n: int) -> float:
        cls = _OP_CLASS[op.upper()]
        if cls is None:
            return 0.0
        p = self.tier_prices(tier)
        return (p.get_per_1k if cls == "get" else p.put_per_1k) * n / 1000

    def retrieval_usd(self, tier: str | Tier, bytes_: int) -> float:
        return self.tier_prices(tier).retrieval_gb * bytes_ / GB

    def transition_usd(self, target: str | Tier, n: int) -> float:
        return self.tier_prices(target).transition_per_1k * n / 1000

    def early_deletion_seconds(self, tier: str | Tier, stored_s: float) -> int:
        """Seconds still billed when an object leaves ``tier`` after ``stored_s``."""
        return max(0, round(self.tier_prices(tier).min_storage_days * DAY_S - stored_s))

    def early_deletion_usd(self, tier: str | Tier, bytes_: int, stored_s: float) -> float:
        billable = self.billable_bytes(tier, bytes_)
        return self.storage_usd(tier, billable * self.early_deletion_seconds(tier, stored_s))


# ----- overrides and the S3 Intelligent-Tiering price book ----------
PRICE_FIELDS = tuple(TierPrices.__dataclass_fields__)


def override_prices(prices: Mapping[Tier, TierPrices],
                    overrides: Mapping[str, Mapping[str, float]]) -> dict[Tier, TierPrices]:
    """``prices`` with some fields replaced: ``{"warm": {"storage_gb_month": 0.01}}``.

    Unknown tiers, unknown fields and negative values raise ValueError.
    """
    from dataclasses import replace

    out = dict(prices)
    for tier_name, fields in (overrides or {}).items():
        tier = Tier.parse(tier_name)
        if not isinstance(fields, Mapping):
            raise ValueError(f"{tier.value}: expected a mapping of price fields, got {fields!r}")
        clean: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in PRICE_FIELDS:
                raise ValueError(f"{tier.value}.{name}: unknown price field; expected one of "
                                 f"{', '.join(PRICE_FIELDS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{tier.value}.{name}: must be a number >= 0, got {value!r}")
            clean[name] = int(value) if name == "min_billable_bytes" else float(value)
        out[tier] = replace(out[tier], **clean)
    return out


def with_overrides(model: CostModel, overrides: Mapping[str, Mapping[str, float]]) -> CostModel:
    return CostModel(override_prices(model.prices, overrides))


# S3 Intelligent-Tiering bills its own access tiers: no retrieval, transition
# or early-deletion charges, Standard request prices in every tier, and a
# monitoring fee for objects over 128 KB (smaller ones are never tiered).
IT_PRICES: Mapping[Tier, TierPrices] = {
    Tier.HOT: TierPrices(0.023, 0.0, 0.0004, 0.005),
    Tier.WARM: TierPrices(0.0125, 0.0, 0.0004, 0.005),
    Tier.COLD: TierPrices(0.004, 0.0, 0.0004, 0.005),
}
IT_MONITORING_PER_1K_MONTH = 0.0025
AUTOCLASS_MANAGEMENT_PER_1K_MONTH = 0.0025


def monitoring_fee_usd(objects_over_128k: float, seconds: float,
                       per_1k_month: float = IT_MONITORING_PER_1K_MONTH) -> float:
    """The per-object monthly fee for ``objects_over_128k`` objects held ``seconds``."""
    return per_1k_month * objects_over_128k / 1000 * seconds / MONTH_S
