"""The decision loop's controls: mode, a round or promotion sweep on demand,
and an operator's answer to a pending decision.

The autopilot runs on the moves runtime's event loop; ``run_there``
carries each call onto it from the caller's loop.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Coroutine, Protocol

from tiering.domain.model import DomainRuleError
from tiering.domain.vocabulary import AutopilotMode
from tiering.services.errors import Conflict, NotFound, public_message


class Pilot(Protocol):
    def state(self) -> dict[str, Any]: ...

    def set_mode(self, mode: str, by: str = "") -> dict[str, Any]: ...

    def run_round(self) -> Coroutine[Any, Any, dict[str, Any]]: ...

    def run_promotions(self) -> Coroutine[Any, Any, dict[str, Any]]: ...

    def answer(self, decision_id: str, outcome: str, by: str) -> Coroutine[Any, Any, dict[str, Any]]: ...


RunThere = Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]]


class AutopilotControls:
    def __init__(self, pilot: Pilot, run_there: RunThere):
        self.pilot = pilot
        self.run_there = run_there

    def state(self) -> dict[str, Any]:
        return self.pilot.state()

    def set_mode(self, mode: AutopilotMode, by: str = "") -> dict[str, Any]:
        return self.pilot.set_mode(mode.value, by)

    async def run_round(self) -> dict[str, Any]:
        return await self.run_there(self.pilot.run_round())

    async def promote(self) -> dict[str, Any]:
        return await self.run_there(self.pilot.run_promotions())

    async def answer(self, decision_id: str, approve: bool, by: str) -> dict[str, Any]:
        """Approve (the move follows) or reject a pending decision; the answer
        lands in the object's log, with ``by``, before any move."""
        try:
            return await self.run_there(self.pilot.answer(decision_id, "approved" if approve else "rejected", by))
        except KeyError:
            raise NotFound(f"unknown decision {decision_id} (or not yet in the read model)") from None
        except DomainRuleError as e:
            raise Conflict(public_message(e)) from None
