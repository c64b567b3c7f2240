"""The decision bus port: decisions to move objects, and what became of them.

A decision names the object's version it was made on (``basis_version``);
its move id is derived from (object, version, target), so the same decision
made twice, or delivered twice, is the same move.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from uuid import UUID, uuid5

from tiering.domain.tiers import Tier

MOVE_NAMESPACE = UUID("2b0f6a52-8d8e-5f0c-b3a1-7c4e9d2f6a10")
DECISIONS = "tiering.decisions"
STATUS = "tiering.move-status"
DEAD_LETTER = "tiering.decisions.dead-letter"
GROUP = "tiering-movers"


@dataclass(frozen=True)
class Decision:
    move_id: str
    object_id: str
    tenant: str
    key: str
    source: str
    target: str
    reason: str
    basis_version: int
    decided_at: float
    policy: str
    requested_by: str | None = None  # the operator who asked or approved; None for a policy

    @classmethod
    def for_object(cls, state: dict[str, Any], target: "Tier | str", reason: str, policy: str,
                   at: float, requested_by: str | None = None) -> "Decision":
        """A decision on an object's state as ``ShardWorker.get_object`` (or the
        read model) describes it."""
        target = Tier.parse(target).value
        move_id = uuid5(MOVE_NAMESPACE, f"{state['object_id']}:{state['version']}:{target}").hex
        return cls(move_id, str(state["object_id"]), state["tenant"], state["key"], state["tier"],
                   target, reason, int(state["version"]), at, policy, requested_by)

    @classmethod
    def resuming(cls, state: dict[str, Any], policy: str = "reconciler") -> "Decision":
        """The decision that drives the move in flight on ``state`` to its end."""
        move = state["move"]
        return cls(move["move_id"], str(state["object_id"]), state["tenant"], state["key"],
                   move["source"], move["target"], "resume an interrupted move",
                   int(state["version"]), move.get("requested_at") or 0.0, policy)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | dict[str, Any]) -> "Decision":
        data = raw if isinstance(raw, dict) else json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def topic_names(prefix: str = "") -> dict[str, str]:
    return {"decisions": prefix + DECISIONS, "status": prefix + STATUS,
            "dead_letter": prefix + DEAD_LETTER, "group": prefix + GROUP}


class DecisionBus(Protocol):
    """What deciders publish to. Consumption is adapter-specific: Kafka
    consumers live in the movers; the in-process bus calls the movers."""

    async def start(self) -> None: ...

    async def publish(self, decision: Decision) -> None:
        """Returns once the decision is accepted (for Kafka: acknowledged by the broker)."""

    async def stop(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...
