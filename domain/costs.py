"""What storing and touching objects costs, per tier.

Pure arithmetic over prices that are always parameters: the defaults are the
November 2026 AWS us-east-1 list prices in shared/reference/tiering-facts.md
(hot = S3 Standard, warm = Standard-IA, cold = Glacier Instant Retrieval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from domain.tiers import Tier

GB = 1024 ** 3  # AWS bills "GB" as GiB
DAY_S = 86_400
MONTH_S = 30 * DAY_S  # billing month used to turn GB-months into seconds
SMALL_OBJECT_BYTES = 128 * 1024  # the minimum billable size of IA-like tiers

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
