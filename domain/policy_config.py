"""Per-tenant and per-key-prefix price overrides: the parsed policy file.

Pure: built from a plain dict (what YAML or a PUT /policies body decodes to);
reading files is the caller's business (tiering.adapters.policy_file).

Shape::

    defaults:            # optional, applies to everyone
      warm: {storage_gb_month: 0.0125}
    tenants:
      acme:
        cold: {min_storage_days: 180}
    prefixes:            # longest matching prefix wins; tenant optional
      - prefix: logs/
        tenant: acme
        warm: {retrieval_gb: 0.02}
    decisions:
      operator_hold_days: 30   # event days the autopilot leaves an operator's move alone

Resolution order (later wins): defaults, tenant, matching prefixes from the
shortest to the longest (a tenant-specific prefix after a global one of equal
length).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tiering.domain.clock import DAY_S
from tiering.domain.costs import DEFAULT_PRICES, CostModel, override_prices
from tiering.domain.quotas import QuotaConfig

Overrides = Mapping[str, Mapping[str, float]]
_TIER_KEYS = ("hot", "warm", "cold")


@dataclass(frozen=True)
class DecisionConfig:
    """How the autopilot decides, beyond prices."""
    # An operator who moved an object meant it: for this long (event time) the
    # autopilot records what it would do as "held" and moves nothing.
    operator_hold_days: float = 30.0

    @classmethod
    def from_dict(cls, data: Any) -> "DecisionConfig":
        data = data or {}
        if not isinstance(data, Mapping):
            raise ValueError("decisions: expected a mapping")
        unknown = set(data) - {"operator_hold_days"}
        if unknown:
            raise ValueError(f"decisions: unknown field(s) {sorted(unknown)}; expected operator_hold_days")
        hold = data.get("operator_hold_days", cls.operator_hold_days)
        if isinstance(hold, bool) or not isinstance(hold, (int, float)) or not 0 <= hold <= 3650:
            raise ValueError("decisions.operator_hold_days: a number of days from 0 to 3650")
        return cls(float(hold))

    def to_dict(self) -> dict[str, Any]:
        return {"operator_hold_days": self.operator_hold_days}

    @property
    def operator_hold_s(self) -> float:
        return self.operator_hold_days * DAY_S


@dataclass(frozen=True)
class PrefixRule:
    prefix: str
    tenant: str | None
    overrides: Overrides


@dataclass(frozen=True)
class PolicyConfig:
    defaults: Overrides = field(default_factory=dict)
    tenants: Mapping[str, Overrides] = field(default_factory=dict)
    prefixes: tuple[PrefixRule, ...] = ()
    base: CostModel = field(default_factory=CostModel)
    quotas: QuotaConfig = field(default_factory=QuotaConfig)
    decisions: DecisionConfig = field(default_factory=DecisionConfig)

    # ----- building ----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, base: CostModel | None = None) -> "PolicyConfig":
        """Validate eagerly; ValueError says where the problem is."""
        data = data or {}
        if not isinstance(data, Mapping):
            raise ValueError("policy file: the top level must be a mapping")
        unknown = set(data) - {"defaults", "tenants", "prefixes", "quotas", "decisions"}
        if unknown:
            raise ValueError(f"policy file: unknown section(s) {sorted(unknown)}; "
                             "expected defaults, tenants, prefixes, quotas, decisions")
        base = base or CostModel(dict(DEFAULT_PRICES))
        defaults = _check_overrides("defaults", data.get("defaults") or {}, base)
        tenants_in = data.get("tenants") or {}
        if not isinstance(tenants_in, Mapping):
            raise ValueError("tenants: expected a mapping of tenant -> tier overrides")
        tenants = {str(t): _check_overrides(f"tenants.{t}", o or {}, base) for t, o in tenants_in.items()}
        rules = []
        prefixes_in = data.get("prefixes") or []
        if not isinstance(prefixes_in, list):
            raise ValueError("prefixes: expected a list of {prefix, [tenant], tier overrides}")
        for i, item in enumerate(prefixes_in):
            if not isinstance(item, Mapping) or not isinstance(item.get("prefix"), str) or not item["prefix"]:
                raise ValueError(f"prefixes[{i}]: needs a non-empty string 'prefix'")
            tenant = item.get("tenant")
            if tenant is not None and not isinstance(tenant, str):
                raise ValueError(f"prefixes[{i}].tenant: must be a string")
            extra = set(item) - {"prefix", "tenant", *_TIER_KEYS}
            if extra:
                raise ValueError(f"prefixes[{i}]: unknown field(s) {sorted(extra)}")
            ov = {k: v for k, v in item.items() if k in _TIER_KEYS}
            rules.append(PrefixRule(item["prefix"], tenant, _check_overrides(f"prefixes[{i}]", ov, base)))
        return cls(defaults, tenants, tuple(rules), base, QuotaConfig.from_dict(data.get("quotas")),
                   DecisionConfig.from_dict(data.get("decisions")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "defaults": _plain(self.defaults),
            "tenants": {t: _plain(o) for t, o in self.tenants.items()},
            "prefixes": [{"prefix": r.prefix, **({"tenant": r.tenant} if r.tenant else {}),
                          **_plain(r.overrides)} for r in self.prefixes],
            "quotas": self.quotas.to_dict(),
            "decisions": self.decisions.to_dict(),
        }

    # ----- resolving ---------------------------------------------------------
    def matching(self, tenant: str, key: str) -> list[PrefixRule]:
        """The prefix rules that apply to ``key``, in the order they are layered."""
        rules = [r for r in self.prefixes
                 if key.startswith(r.prefix) and (r.tenant is None or r.tenant == tenant)]
        rules.sort(key=lambda r: (len(r.prefix), r.tenant is not None))
        return rules

    def layers(self, tenant: str, key: str) -> list[Overrides]:
        out: list[Overrides] = [self.defaults]
        if tenant in self.tenants:
            out.append(self.tenants[tenant])
        out.extend(r.overrides for r in self.matching(tenant, key))
        return out

    def model_for(self, tenant: str, key: str) -> CostModel:
        prices = dict(self.base.prices)
        for layer in self.layers(tenant, key):
            prices = override_prices(prices, layer)
        return CostModel(prices)

    def scope(self, tenant: str, key: str) -> str:
        """The longest rule prefix that applies to ``key`` ('' when none does).

        Every rule matching ``key`` also matches this prefix (all of them are
        prefixes of ``key``, none longer than it), so
        ``model_for(tenant, scope(tenant, key)) == model_for(tenant, key)``:
        aggregates kept per (tenant, scope) can be priced exactly.
        """
        rules = self.matching(tenant, key)
        return rules[-1].prefix if rules else ""

    def scope_rules(self) -> list[tuple[str, str | None]]:
        """What ``scope`` depends on: each rule's (prefix, tenant), sorted.
        Aggregates split by scope need re-bucketing only when this changes."""
        return sorted({(r.prefix, r.tenant) for r in self.prefixes},
                      key=lambda pt: (pt[0], pt[1] is not None, pt[1] or ""))

    def signature(self, tenant: str, key: str) -> tuple:
        """Equal signatures mean equal cost models (used to group objects)."""
        return tuple(id(layer) for layer in self.layers(tenant, key))


def _check_overrides(where: str, overrides: Any, base: CostModel) -> dict[str, dict[str, float]]:
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{where}: expected a mapping of tier -> price fields")
    try:
        override_prices(base.prices, overrides)
    except ValueError as e:
        raise ValueError(f"{where}.{e}") from None
    return {str(t).lower(): dict(f) for t, f in overrides.items()}


def _plain(overrides: Overrides) -> dict[str, dict[str, float]]:
    return {t: dict(f) for t, f in overrides.items()}
