"""A decision round in three steps, so that a shard only reads and writes logs.

1. Each shard reads its objects' logs at their tenants' event time and hands
   out what a policy needs (``ShardWorker.observe``, ``ml.live.observe``).
2. A decision task, which Ray runs anywhere in the cluster, runs the one
   policy code path (``ml.live.choose`` over ``ml.policies``) scoring on the
   predictor pool, and checks that each object to move has its bytes in the
   tier its log names: a move of nothing would fail (``choose_decisions``).
3. The shard records every decision in its object's log (TierRecommended,
   with the policy and model version, the score, the reasons and what the
   decider will do with it) in one unit of work, before anyone acts on it
   (``ShardWorker.record_decisions``).

The shard never waits on the object store or on a predictor, so ingest and
move steps keep flowing while a round scores.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from tiering.adapters.bus import Decision
from tiering.adapters.objectstore import StoreError, TierBuckets, object_name, open_store
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.costs import CostModel
from tiering.domain.policy_config import DecisionConfig, PolicyConfig
from tiering.domain.vocabulary import Disposition
from tiering.ml.live import Observed, choose, observe

log = logging.getLogger(__name__)
ACTED_ON = ("publish", "pending")  # dispositions whose decisions lead to a move
STAT_THREADS = 16


class Scorer(Protocol):
    """What a round needs of a predictor pool: probabilities for feature rows."""

    def score(self, x: Any) -> Any: ...


@dataclass(frozen=True)
class RoundSpec:
    """What every decision of a round is made with."""
    disposition: str
    model_version: str | None = None
    pool: Scorer | None = None  # the predictor pool (``actors.predictors``)
    policy_params: dict[str, Any] = field(default_factory=dict)
    importances: tuple[str, ...] = ()
    promotions_only: bool = False
    operator_hold_s: float = DecisionConfig().operator_hold_s

    @property
    def policy_id(self) -> str:
        scored = self.model_version and self.pool is not None
        return f"ours@{self.model_version}" if scored else "ours@rules"

    def policy(self):
        """``ours`` scoring on the pool when a model is registered, else
        ``ours`` on its rule fallback; both behind the same cost guard."""
        from tiering.ml.policies import Ours

        if self.model_version and self.pool is not None:
            policy = Ours(**self.policy_params)
            policy.scorer = self.pool.score  # the model lives in the predictor actors
            return policy
        return Ours(clf=None, **self.policy_params)


@dataclass(frozen=True)
class ObjectGroup:
    """Objects of one tenant decided together: one event-time now and one
    cost model (tenant and key-prefix price overrides), hence one guard."""
    now: float
    keys: tuple[tuple[str, str], ...]
    model: CostModel = field(default_factory=CostModel)


@dataclass(frozen=True)
class ChosenMove:
    """A tier change a policy chose, to be recorded by the object's shard."""
    object_id: str
    tenant: str
    key: str
    current: str
    target: str
    score: float
    reasons: tuple[str, ...]
    now: float
    held: bool = False  # recorded as "held", never acted on: an operator's move holds


def operator_hold(operator_move: dict[str, Any] | None, target: str, now: float,
                  hold_s: float) -> str | None:
    """Why a move to ``target`` must wait for the operator's hold to end, or None.

    A move an operator asked for (or approved) stands for ``hold_s`` of event
    time: the autopilot moves the object nowhere else before then, whatever
    the policy would say; a move to where the operator put it is not undoing it."""
    if not operator_move or operator_move.get("at") is None or target == operator_move["target"]:
        return None
    until = operator_move["at"] + hold_s
    if now >= until:
        return None
    return (f"held: {operator_move['by']} moved it to {operator_move['target']} at event time "
            f"{operator_move['at']:.0f}; the autopilot leaves it there until {until:.0f} "
            f"(decisions.operator_hold_days)")


def group_objects(keys: Sequence[tuple[str, str]], clocks: dict[str, float],
                  prices: PolicyConfig | None) -> list[ObjectGroup]:
    """``keys`` by tenant (each at its clock) and, within it, by price overrides."""
    groups: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    for tenant, key in keys:
        sig = () if prices is None else prices.signature(tenant, key)
        groups[(tenant, sig)].append((tenant, key))
    return [ObjectGroup(clocks[tenant], tuple(ks),
                        CostModel() if prices is None else prices.model_for(*ks[0]))
            for (tenant, _), ks in groups.items()]


def observe_groups(app: ObjectLogApplication, groups: Sequence[ObjectGroup],
                   promotions_only: bool) -> list[Observed | None]:
    """Step 1, in the shard: read the logs. Pure reads of the event store."""
    return [observe(app, g.keys, g.now, promotions_only=promotions_only) for g in groups]


def choose_decisions(groups: Sequence[ObjectGroup], observed: Sequence[Observed | None],
                     spec: RoundSpec, settings: Settings) -> dict[str, Any]:
    """Step 2, in a decision task: ``{"chosen": [ChosenMove], "not_in_store": n}``."""
    chosen: list[ChosenMove] = []
    for group, seen in zip(groups, observed, strict=True):
        if seen is None:
            continue
        facts = {(o.tenant, o.key): o for o in seen.objects}
        for d in choose(seen, spec.policy(), model=group.model, importances=spec.importances):
            o = facts[(d.tenant, d.key)]
            rec = o.recommendation or {}
            hold = operator_hold(o.operator_move, d.target, seen.now, spec.operator_hold_s)
            disposition = Disposition.HELD if hold else spec.disposition
            if said_already(rec, d.target, disposition):
                continue  # no new event each round
            chosen.append(ChosenMove(o.object_id, d.tenant, d.key, d.current, d.target, d.score,
                                     tuple(d.reasons) + ((hold,) if hold else ()), seen.now, bool(hold)))
    absent = 0
    acted = [c for c in chosen if not c.held]
    if spec.disposition in ACTED_ON and acted:
        present = dict(zip((c.object_id for c in acted), _bytes_present(settings, acted)))
        absent = len(acted) - sum(present.values())
        chosen = [c for c in chosen if c.held or present[c.object_id]]
    return {"chosen": chosen, "not_in_store": absent}


def said_already(rec: dict[str, Any], target: str, disposition: str) -> bool:
    """The same decision recorded and still unanswered (dry, pending or held): say it once."""
    return (rec.get("target") == target and rec.get("disposition") == disposition
            and disposition in (Disposition.DRY, Disposition.PENDING, Disposition.HELD)
            and not rec.get("outcome"))


def record_decisions(app: ObjectLogApplication, chosen: Sequence[ChosenMove], policy_id: str,
                     disposition: str) -> dict[str, Any]:
    """Step 3, in the shard: one commit for the round's decisions. If it fails,
    nothing of them stays in the cache, and the next round decides them again.
    A decision whose object moved, was deleted or recreated since it was
    observed is dropped ("changed"); accesses since do not void it."""
    decisions, unchanged, changed, held = [], 0, 0, 0
    with app.unit_of_work() as uow:
        for c in chosen:
            obj = app.current(c.tenant, c.key)
            if (obj is None or obj.is_deleted or str(obj.id) != c.object_id
                    or obj.move is not None or obj.tier.value != c.current):
                changed += 1
                continue
            said = Disposition.HELD if c.held else disposition
            if said_already(obj.recommendation or {}, c.target, said):
                unchanged += 1
                continue
            # Stamped at the tenant's now as this shard knows it, if it knows later.
            now = app.tenant_now(c.tenant, c.now)
            state = {"object_id": str(obj.id), "tenant": obj.tenant, "key": obj.key,
                     "tier": obj.tier.value, "version": obj.version}
            decision = Decision.for_object(state, c.target, "; ".join(c.reasons), policy_id, now)
            uow.touch(obj).recommend(c.target, policy_id, c.score, list(c.reasons), now,
                                     decision_id=decision.move_id, disposition=said)
            if c.held:
                held += 1  # recorded with its reason; nothing acts on it
            else:
                decisions.append(decision.to_dict())
    return {"decisions": decisions, "unchanged": unchanged, "changed": changed, "held": held}


def _bytes_present(settings: Settings, chosen: Sequence[ChosenMove]) -> list[bool]:
    """Whether each object's bytes are in the bucket of the tier it is in."""
    buckets = TierBuckets.from_settings(settings)
    try:
        store = open_store(settings)
    except StoreError:
        log.warning("cannot reach the object store; no decision acted on this round")
        return [False] * len(chosen)

    def present(c: ChosenMove) -> bool:
        try:
            return store.stat(buckets.of(c.current), object_name(c.tenant, c.key)) is not None
        except StoreError:
            log.warning("cannot reach the object store to check %s/%s", c.tenant, c.key)
            return False

    # a round can act on thousands of objects: round trips, not the store, bound it
    with ThreadPoolExecutor(STAT_THREADS) as pool:
        return list(pool.map(present, chosen))



def decision_task():
    """``choose_decisions`` as a Ray task, built lazily so importing needs no Ray.
    It holds no CPU reservation: it mostly waits on the predictor pool."""
    import ray

    return ray.remote(num_cpus=0)(choose_decisions)
