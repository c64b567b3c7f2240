"""The decision loop: on a schedule of event time, shards decide; movers act.

Every ``decide_every_s`` of event time (the newest access the read model has
seen, so a replayed week decides seven times in minutes) the autopilot lists
the idle objects from the read model, hands each shard its own, and the
shards run the policy and record each decision in the object's log. What
happens next depends on the mode an operator sets:

- ``auto``: decisions are published on the decision bus; movers move.
- ``paused``: a dry run; decisions are recorded, nothing moves.
- ``approval``: decisions wait as ``pending`` until approved or rejected.

The mode is kept in the event store (``domain.stack_settings``): a restart
keeps it, and any process on any node reads the one in force.
The model is the newest stored version, scored on a pool of predictor
actors that is replaced when a newer version appears.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Awaitable, Callable

from tiering.actors.predictors import PredictorPool
from tiering.adapters.bus import Decision
from tiering.adapters.ray_spread import spread
from tiering.config import Settings
from tiering.domain.ids import shard_of
from tiering.domain.policy_config import DecisionConfig
from tiering.domain.vocabulary import MODE_DISPOSITION, AutopilotMode
from tiering.shards.decision_round import RoundSpec, decision_task, group_objects
from tiering.shards.steps import AnswerDecision

log = logging.getLogger(__name__)
MODES = tuple(m.value for m in AutopilotMode)
_DISPOSITION = {m.value: d.value for m, d in MODE_DISPOSITION.items()}


class Autopilot:
    def __init__(self, settings: Settings, shards: list[Any], read_models,
                 publish: Callable[[Decision], Awaitable[None]], mode_setting: Any, models: Any):
        self.settings, self.shards, self.read_models = settings, shards, read_models
        self.publish = publish
        self.mode_setting = mode_setting  # adapters.stack_settings.StoredSetting
        self.models = models  # adapters.model_store.StoredModels
        self._first_mode = self._legacy_mode() or settings.autopilot_mode
        self.rounds, self.last_round = 0, None
        self.next_event_time: float | None = None
        self.cursor: str | None = None  # where the next round's listing resumes
        self.pool: PredictorPool | None = None
        self.model_version: str | None = None
        self._decision_task = None
        self.lock = asyncio.Lock()  # one round at a time
        self.promotions = 0  # decisions made by the sweeps between rounds
        self._swept_through: float | None = None  # event time the last sweep looked back to
        self._checked: dict[tuple[str, str], float] = {}  # last access each candidate was checked at

    # ----- mode --------------------------------------------------------------
    def _legacy_mode(self) -> str | None:
        """The mode an earlier version kept in ``data_dir/autopilot.json``."""
        try:
            return json.loads((Path(self.settings.data_dir) / "autopilot.json").read_text())["mode"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def mode(self) -> str:
        """The stored mode, or the one configured for the first start."""
        stored = self.mode_setting.get()[1]
        mode = stored.get("mode") if stored else self._first_mode
        return mode if mode in MODES else "auto"

    def set_mode(self, mode: str, by: str = "") -> dict[str, Any]:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode_setting.set({"mode": mode}, by)
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"mode": self.mode, "policy": f"ours@{self.model_version or 'rules'}",
                "model_version": self.model_version, "rounds": self.rounds,
                "last_round": self.last_round, "next_event_time": self.next_event_time,
                "promotions": self.promotions,
                "decide_every_s": self.settings.decide_every_s}

    # ----- the model ----------------------------------------------------------
    def _refresh_predictors(self) -> dict[str, Any]:
        """The newest model's meta, with a pool of predictors loaded with it."""
        latest = self.models.latest()
        if latest is None:
            return {}
        if latest != self.model_version:
            model, meta = self.models.load(latest)
            fresh = PredictorPool.start(self.settings.predictors, latest, model,
                                        features=len(meta.get("features") or [0]))
            if self.pool is not None:
                self.pool.close()
            self.pool, self.model_version = fresh, latest
            return meta
        return self.models.meta(latest)

    # ----- rounds ---------------------------------------------------------------
    def _candidates(self) -> dict[int, list[tuple[str, str]]]:
        """Up to ``decide_max_objects`` idle objects, resuming where the last
        round stopped, grouped by owning shard."""
        per_shard: dict[int, list[tuple[str, str]]] = defaultdict(list)
        taken, limit = 0, self.settings.decide_max_objects
        while taken < limit:
            rows, self.cursor = self.read_models.list_objects(cursor=self.cursor,
                                                              limit=min(1000, limit - taken))
            for r in rows:
                if r["move"] is None:
                    per_shard[shard_of(r["tenant"], r["key"], len(self.shards))].append(
                        (r["tenant"], r["key"]))
            taken += len(rows)
            if not self.cursor:
                break
        return per_shard

    async def run_round(self, now: float | None = None) -> dict[str, Any]:
        """Decide now (at the newest event time unless ``now`` is given)."""
        async with self.lock:
            return await self._round(now)

    async def _round(self, now: float | None) -> dict[str, Any]:
        if now is None:
            now = await asyncio.to_thread(self.read_models.event_time)
        if now is None:
            return {"decided": 0, "reason": "no events yet"}
        started, mode = time.time(), self.mode
        per_shard = await asyncio.to_thread(self._candidates)
        out = await self._decide(per_shard, now, mode)
        self.rounds += 1
        self.last_round = {"event_time": now, "at": started, "mode": mode, **out,
                           "took_s": round(time.time() - started, 3)}
        self.next_event_time = now + self.settings.decide_every_s
        log.info("decision round: %s", self.last_round)
        return self.last_round

    async def run_promotions(self) -> dict[str, Any]:
        """Promote on access, between rounds: objects in warm or cold read or
        written since the last sweep go back to hot if the policy says so
        (``ml.live.decide_objects(promotions_only=True)``). A sweep looks back
        one round's worth of event time, for accesses folded in late, and
        skips objects it already checked at the same last access; what it
        still misses, the next round promotes."""
        async with self.lock:
            now = await asyncio.to_thread(self.read_models.event_time)
            if now is None:
                return {"decided": 0, "reason": "no events yet"}
            rows = await asyncio.to_thread(self.read_models.list_promotable, self._swept_through,
                                           self.settings.decide_max_objects)
            per_shard: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for tenant, key, last_access in rows:
                if self._checked.get((tenant, key)) != last_access:
                    per_shard[shard_of(tenant, key, len(self.shards))].append((tenant, key))
            out = {"decided": 0, "considered": 0, "published": 0, "not_in_store": 0}
            if per_shard:
                out = await self._decide(per_shard, now, self.mode, promotions_only=True)
            # only what is still in the window is remembered, so this stays small
            self._checked = {(t, k): at for t, k, at in rows}
            self._swept_through = now - self.settings.decide_every_s
            self.promotions += out["decided"]
            return {"event_time": now, **out}

    async def _decide(self, per_shard: dict[int, list[tuple[str, str]]], now: float, mode: str,
                      promotions_only: bool = False) -> dict[str, Any]:
        """Each shard observes its objects, a decision task per shard chooses,
        and the shard records what was chosen (``shards.decision_round``); in auto
        mode the decisions are then published."""
        meta = await asyncio.to_thread(self._refresh_predictors)
        prices = await asyncio.to_thread(self.read_models.policy.config)  # the stored overrides, or None
        spec = RoundSpec(_DISPOSITION[mode], self.model_version, self.pool,
                         meta.get("policy_params") or {},
                         tuple(_ranked(meta.get("feature_importances") or {})), promotions_only,
                         (prices.decisions if prices else DecisionConfig()).operator_hold_s)
        # Each tenant decides at its own event time; a tenant the read model
        # has no clock for yet (projection lag) decides at the estate's.
        known = await asyncio.to_thread(self.read_models.tenant_clocks)
        clocks = {t: known.get(t, now) for keys in per_shard.values() for t, _ in keys}
        if self._decision_task is None:
            self._decision_task = decision_task()

        # Each shard's task on the next live node in turn: a node that joined takes its share.
        places = dict(zip(per_shard, await asyncio.to_thread(spread, len(per_shard))))

        async def one_shard(i: int, keys: list[tuple[str, str]]) -> dict[str, Any]:
            groups = group_objects(keys, clocks, prices)
            observed = self.shards[i].observe.remote(groups, promotions_only)
            # the observation goes from the shard to the task without passing here
            found = await self._decision_task.options(**places[i]).remote(
                groups, observed, spec, self.settings)
            recorded = {"decisions": []}
            if found["chosen"]:
                recorded = await self.shards[i].record_decisions.remote(
                    found["chosen"], spec.policy_id, spec.disposition)
            return {**recorded, "considered": len(keys), "not_in_store": found["not_in_store"]}

        results = await asyncio.gather(*[one_shard(i, keys) for i, keys in per_shard.items()])
        decisions = [Decision.decode(d) for r in results for d in r["decisions"]]
        published = 0
        if mode == "auto":
            for d in decisions:
                await self.publish(d)
                published += 1
        return {"policy": spec.policy_id,
                "considered": sum(r["considered"] for r in results), "decided": len(decisions),
                "published": published, "not_in_store": sum(r["not_in_store"] for r in results),
                "held": sum(r.get("held", 0) for r in results)}

    async def run_forever(self, stop: asyncio.Event) -> None:
        """A round each time event time passes the next decision point."""
        while not stop.is_set():
            try:
                event_time = await asyncio.to_thread(self.read_models.event_time)
                if event_time is not None and (self.next_event_time is None
                                               or event_time >= self.next_event_time):
                    await self.run_round(event_time)
                if event_time is not None:
                    await self.run_promotions()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("decision round failed")
            try:
                await asyncio.wait_for(stop.wait(), self.settings.autopilot_poll_s)
            except asyncio.TimeoutError:
                pass

    # ----- operator answers -------------------------------------------------------
    async def answer(self, decision_id: str, outcome: str, by: str = "operator") -> dict[str, Any]:
        """Approve (record it, then publish the move) or reject a pending decision.
        Raises KeyError if unknown; the domain's rule errors if it is not pending."""
        row = await asyncio.to_thread(self.read_models.get_decision, decision_id)
        if row is None:
            raise KeyError(decision_id)
        shard = self.shards[shard_of(row["tenant"], row["key"], len(self.shards))]
        # Stamped at the tenant's event time now (the shard raises it to what it knows).
        now = await asyncio.to_thread(self.read_models.event_time, row["tenant"])
        await shard.run.remote(AnswerDecision(row["tenant"], row["key"], decision_id, outcome,
                                              by, now))
        out = {"decision_id": decision_id, "status": outcome}
        if outcome == "approved":
            # the move id is the decision id; a repeated approval is the same move
            await self.publish(Decision(
                decision_id, row["object_id"], row["tenant"], row["key"], row["source"],
                row["target"], "approved: " + "; ".join(row["reasons"]), row["basis_version"],
                row["decided_at"], row["policy"], by))
            out["move_id"] = decision_id
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _ranked(importances: Any) -> list[str]:
    """Feature names, most important first (meta holds a name -> weight map)."""
    if isinstance(importances, dict):
        return [k for k, _ in sorted(importances.items(), key=lambda kv: -kv[1])]
    return list(importances) if isinstance(importances, list) else []
