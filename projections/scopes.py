"""Per-key-prefix price overrides in the aggregates behind ``/metrics``.

An object's price depends on its tenant and key (``PolicyConfig.model_for``),
but ``/metrics`` may only read aggregates. Every rule that matches a key is a
prefix of the longest one that does, so that longest prefix, the object's
*scope* (``PolicyConfig.scope``; '' when no rule applies), fixes its price:
``model_for(tenant, key) == model_for(tenant, scope)``. The projector keeps

- ``rm_scope_stats`` (tenant, scope, tier): live objects, bytes and the small
  ones, exactly as rm_tier_stats counts them, for objects with a scope;
- ``rm_scope_cost`` (tenant, scope, tier): the request, read, transition and
  early-deletion counts rm_cost accumulates, charged while in that scope;

and ``/metrics`` prices each scoped row with ``model_for(tenant, scope)`` and
the rest of each rm_tier_stats/rm_cost row (the tenant-wide total minus its
scoped rows) with the tenant's model: tenants x tiers x rules rows, never a
row per object. Override *values* are applied when read, so changing them
needs nothing; the tables only depend on the rules' (prefix, tenant) pairs,
recorded in ``rm_scope_rules``.

When those pairs change (PUT /policies), the projector
re-buckets before its next page, or on its next idle poll:

- rm_scope_stats is recomputed from the live rows of rm_objects, one scan at
  that moment. It is exact: a rebuild gives the same rows.
- rm_scope_cost cannot be: the counts are totals over time and over the tiers
  an object passed through, which rm_objects does not keep per tier (nor for
  earlier incarnations, nor for transitions and early deletions). Each row
  moves to the new scope of its old scope (the longest new rule that is a
  prefix of it; '' returns it to the tenant remainder). That is exact when
  rules are removed, or changed between tenant-specific and global, but
  charges recorded before a rule was *added* stay in the enclosing scope
  (usually the tenant's) and are priced there. ``tiering projections
  rebuild`` replays the log under the current rules and splits them exactly;
  charges recorded after the change are split exactly either way.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any, Callable

from tiering.domain.costs import CostModel, is_small_object
from tiering.domain.policy_config import PolicyConfig, PrefixRule
from tiering.projections import schema
from tiering.projections.db import ReadModelDB

log = logging.getLogger(__name__)
Rules = list[tuple[str, "str | None"]]  # PolicyConfig.scope_rules()
SCOPED = {"rm_tier_stats": ("rm_scope_stats", schema.TIER_COUNTS),
          "rm_cost": ("rm_scope_cost", schema.COST_COUNTS)}
_RULES_ROW = "prefix_rules"
_SCAN_PAGE = 10_000


class StoredPolicy:
    """The price overrides in force (``PUT /policies``, kept in the event store:
    ``domain.stack_settings``), parsed again only when they change."""

    def __init__(self, setting: Any = None):
        self.setting = setting  # adapters.stack_settings.StoredSetting; None: defaults only
        self._cached: tuple[int, PolicyConfig | None, bool] | None = None

    @classmethod
    def of_store(cls, app: Any) -> "StoredPolicy":
        from tiering.adapters.stack_settings import StoredSetting
        from tiering.domain.stack_settings import PRICE_POLICY

        return cls(StoredSetting(app, PRICE_POLICY))

    def load(self) -> tuple[PolicyConfig | None, bool]:
        """(config, ok): (None, True) when never set, (None, False) for a stored
        value this version cannot read (PUT /policies validates what it stores)."""
        if self.setting is None:
            return None, True
        version, raw = self.setting.get()
        if raw is None:
            return None, True
        if self._cached is None or self._cached[0] != version:
            try:
                self._cached = (version, PolicyConfig.from_dict(raw), True)
            except ValueError:
                log.exception("the stored price policy (version %s) does not parse", version)
                self._cached = (version, None, False)
        return self._cached[1], self._cached[2]

    def config(self) -> PolicyConfig | None:
        """The overrides in force; None: defaults for everyone."""
        return self.load()[0]

    def rules(self) -> Rules | None:
        """The scope rules to bucket by; None: the stored policy does not parse."""
        config, ok = self.load()
        if not ok:
            return None
        return config.scope_rules() if config is not None else []


def rules_only(rules: Rules) -> PolicyConfig:
    """A config with the rules' prefixes and tenants, enough for ``scope``."""
    return PolicyConfig(prefixes=tuple(PrefixRule(p, t, {}) for p, t in rules))


class ScopeBuckets:
    """The projector's side: which scope an object's weight and charges go to."""

    def __init__(self, policy: StoredPolicy | None):
        self.policy = policy
        self.rules: Rules = []
        self._config = rules_only([])

    def of(self, row: dict) -> str:
        return self._config.scope(row["tenant"], row["key"]) if self.rules else ""

    def sync(self, db: ReadModelDB) -> None:
        """In the projector's transaction: bucket by the stored policy's rules,
        re-bucketing first if the tables were bucketed by other ones."""
        row = db.fetchone("SELECT rules FROM rm_scope_rules WHERE name = ?", (_RULES_ROW,))
        stored = [tuple(r) for r in json.loads(row[0])] if row else None
        wanted = self.policy.rules() if self.policy is not None else []
        if wanted is None:  # an unreadable policy: keep the buckets there are
            wanted = stored or []
        if stored != wanted:
            rebucket(db, stored or [], wanted)
            db.execute(schema.upsert_sql("rm_scope_rules", ("name", "rules"), ("name",)),
                       (_RULES_ROW, json.dumps(wanted)))
        if wanted != self.rules:
            self.rules, self._config = wanted, rules_only(wanted)


def rebucket(db: ReadModelDB, old: Rules, new: Rules) -> None:
    """Split the scoped tables by ``new`` rules instead of ``old`` (see the
    module docstring for what is exact)."""
    config = rules_only(new)
    moved: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(schema.COST_COUNTS))
    for r in db.fetchdicts("SELECT * FROM rm_scope_cost"):
        scope = config.scope(r["tenant"], r["scope"])
        if scope:
            t = moved[(r["tenant"], scope, r["tier"])]
            for i, c in enumerate(schema.COST_COUNTS):
                t[i] += r[c]
    db.execute("DELETE FROM rm_scope_cost")
    db.executemany(_insert_sql("rm_scope_cost", schema.COST_COUNTS),
                   [(*k, *v) for k, v in moved.items()])
    db.execute("DELETE FROM rm_scope_stats")
    if not new:
        return
    stats: dict[tuple, list[int]] = defaultdict(lambda: [0] * 4)
    tenants = None if any(t is None for _, t in new) else sorted({t for _, t in new})
    after: list = []
    while True:  # keyset pages of live rows; only tenants some rule names
        conds, params = ["deleted_at IS NULL"], []
        if tenants is not None:
            conds.append(f"tenant IN ({', '.join('?' * len(tenants))})")
            params += tenants
        if after:
            conds.append("(tenant, key) > (?, ?)")
            params += after
        rows = db.fetchall(f"SELECT tenant, key, tier, size FROM rm_objects WHERE"
                           f" {' AND '.join(conds)} ORDER BY tenant, key LIMIT {_SCAN_PAGE}",
                           params)
        for tenant, key, tier, size in rows:
            scope = config.scope(tenant, key)
            if scope:
                d = stats[(tenant, scope, tier)]
                d[0] += 1
                d[1] += size
                if is_small_object(size):
                    d[2] += 1
                    d[3] += size
        if len(rows) < _SCAN_PAGE:
            break
        after = list(rows[-1][:2])
    db.executemany(_insert_sql("rm_scope_stats", schema.TIER_COUNTS),
                   [(*k, *v) for k, v in stats.items()])


def _insert_sql(table: str, counts: tuple[str, ...]) -> str:
    cols = ("tenant", "scope", "tier", *counts)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def priced_rows(db: ReadModelDB, table: str, tenant: str | None,
                price: Callable[[str, str], CostModel]) -> list[tuple[CostModel, dict]]:
    """Rows of rm_tier_stats or rm_cost (one tenant's, or all), each paired
    with its price: every scoped row at ``price(tenant, scope)``, and each
    tenant-and-tier row less its scoped rows at ``price(tenant, '')``."""
    scoped_table, counts = SCOPED[table]
    where, params = (" WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
    totals = {(r["tenant"], r["tier"]): {**r, "scope": ""}
              for r in db.fetchdicts(f"SELECT * FROM {table}{where}", params)}
    out = []
    for r in db.fetchdicts(f"SELECT * FROM {scoped_table}{where}", params):
        rest = totals.get((r["tenant"], r["tier"]))
        if rest is not None:
            for c in counts:
                rest[c] -= r[c]
        out.append((price(r["tenant"], r["scope"]), r))
    out.extend((price(t, ""), r) for (t, _), r in totals.items())
    return out
