"""A decision round inside the shard that owns the objects.

The shard reads its objects' logs, runs the one policy code path
(``ml.live.decide_objects`` over ``ml.policies``), scores through the
predictor pool it is handed, and records every decision in the object's log
(TierRecommended, with the policy and model version, the score, the reasons
and what the decider will do with it) before anyone acts on it.
``ShardWorker.decide`` calls ``decide_round``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any, Sequence

import numpy as np

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import StoreError, object_name
from tiering.domain.costs import CostModel
from tiering.ml.live import decide_objects

log = logging.getLogger(__name__)


def pool_scorer(predictors: Sequence[Any], batch: int = 50_000):
    """Score feature rows on the predictor actors, split evenly across them."""
    import ray

    def score(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(x):
            return np.zeros(0, dtype=int), np.zeros(0)
        parts = max(1, min(len(predictors), -(-len(x) // min(batch, len(x)))))
        bounds = np.linspace(0, len(x), parts + 1, dtype=int)
        refs = [predictors[i % len(predictors)].score.remote(int(lo), x[lo:hi])
                for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])) if hi > lo]
        labels, conf = np.empty(len(x), dtype=int), np.empty(len(x))
        for start, lab, c, _version in ray.get(refs):
            labels[start:start + len(lab)], conf[start:start + len(c)] = lab, c
        return labels, conf
    return score


def build_policy(spec: dict[str, Any]):
    """``ours`` with the pool as its model when a model is registered, else
    ``ours`` on its rule fallback; both behind the same cost guard."""
    from tiering.ml.policies import Ours

    params = dict(spec.get("policy_params") or {})
    predictors = spec.get("predictors") or []
    if spec.get("model_version") and predictors:
        policy = Ours(**params)
        policy.scorer = pool_scorer(predictors)  # the model lives in the predictor actors
        return policy, f"{policy.name}@{spec['model_version']}"
    return Ours(clf=None, **params), "ours@rules"


def decide_round(worker, keys: Sequence[tuple[str, str]], clocks: dict[str, float],
                 spec: dict[str, Any]) -> dict[str, Any]:
    """Decide for ``keys`` (all owned by this shard), each at its tenant's
    event-time now (``clocks``), so that one tenant's replay ages nobody else.

    Returns ``{"decisions": [Decision dicts], "considered": n, "not_in_store": n,
    "unchanged": n}``.
    A decision to be acted on (``publish`` or ``pending``) is only made for
    objects whose bytes are in the tier bucket the log names: a move of
    nothing would fail.
    """
    disposition = spec["disposition"]
    policy_id = build_policy(spec)[1]
    by_tenant: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for tenant, key in keys:
        by_tenant[tenant].append((tenant, key))
    prices = _price_overrides(worker.settings)
    found = []
    for tenant, tenant_keys in by_tenant.items():
        now = clocks[tenant]
        # Objects priced alike are decided together: each group gets its own
        # cost model (tenant and key-prefix overrides), hence its own guard.
        for model, group in _priced_groups(prices, tenant_keys):
            policy = build_policy(spec)[0]
            found += [(d, now) for d in decide_objects(
                worker.app, group, policy, now, model=model,
                importances=spec.get("importances") or (),
                promotions_only=bool(spec.get("promotions_only")))]
    decisions, skipped = [], Counter()
    placement = worker.placement_steps() if disposition in ("publish", "pending") else None
    # One commit for the round's decisions in this shard; if it fails, nothing
    # of the round stays in the cache, and the next round decides them again.
    with worker.app.unit_of_work() as uow:
        for d, now in found:
            got = _record(worker, uow, d, now, policy_id, disposition, placement)
            if isinstance(got, str):
                skipped[got] += 1
            else:
                decisions.append(got)
    return {"decisions": decisions, "considered": len(keys), "not_in_store": skipped["absent"],
            "unchanged": skipped["unchanged"]}


def _record(worker, uow, d, now: float, policy_id: str, disposition: str, placement):
    """Record one decision in its object's log (in ``uow``); "unchanged" when
    said already and unanswered, "absent" when its bytes are not in its tier."""
    # Stamped at the tenant's now as this shard knows it, if it knows later.
    now = worker.app.tenant_now(d.tenant, now)
    obj = worker.app.current(d.tenant, d.key)
    rec = obj.recommendation or {}
    if (rec.get("target") == d.target and rec.get("disposition") == disposition
            and disposition in ("dry", "pending") and not rec.get("outcome")):
        return "unchanged"  # said already, and still unanswered: no new event each round
    if placement is not None and not _has_bytes(placement, d.tenant, d.key, d.current):
        return "absent"
    state = {"object_id": str(obj.id), "tenant": obj.tenant, "key": obj.key,
             "tier": obj.tier.value, "version": obj.version}
    decision = Decision.for_object(state, d.target, "; ".join(d.reasons), policy_id, now)
    uow.touch(obj).recommend(d.target, policy_id, d.score, d.reasons, now,
                             decision_id=decision.move_id, disposition=disposition)
    return decision.to_dict()


def _price_overrides(settings):
    """The policy file's price overrides, or None (default prices)."""
    from pathlib import Path

    path = Path(settings.data_dir) / "policy.yaml"
    if not path.exists():
        return None
    from tiering.adapters.policy_file import load_policy_file
    try:
        return load_policy_file(path)
    except ValueError:
        log.warning("%s does not load; deciding at default prices", path)
        return None


def _priced_groups(config, keys: Sequence[tuple[str, str]]):
    """(cost model, keys) per group of keys with the same price overrides."""
    keys = [tuple(k) for k in keys]
    if config is None:
        return [(CostModel(), keys)]
    groups: dict[tuple, list] = defaultdict(list)
    for k in keys:
        groups[config.signature(*k)].append(k)
    return [(config.model_for(*g[0]), g) for g in groups.values()]


def _has_bytes(placement, tenant: str, key: str, tier: str) -> bool:
    try:
        return placement.store.stat(placement.buckets.of(tier), object_name(tenant, key)) is not None
    except StoreError:
        log.warning("cannot reach the object store to check %s/%s", tenant, key)
        return False
