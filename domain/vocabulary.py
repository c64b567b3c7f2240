"""The product's enumerations, said once: the API, the read models, the
actors and the dashboard all take them from here."""

from __future__ import annotations

from enum import StrEnum


class AutopilotMode(StrEnum):
    """What the decision loop does with its decisions."""

    AUTO = "auto"  # publish them: the movers move the objects
    PAUSED = "paused"  # a dry run: record them, move nothing
    APPROVAL = "approval"  # hold them until an operator approves or rejects


class Disposition(StrEnum):
    """What a recorded decision is for (``TierRecommended.disposition``)."""

    PUBLISH = "publish"
    DRY = "dry"
    PENDING = "pending"
    ADVICE = "advice"
    HELD = "held"  # what the policy wanted, not done: an operator's move holds


# the disposition each mode gives its decisions
MODE_DISPOSITION = {AutopilotMode.AUTO: Disposition.PUBLISH, AutopilotMode.PAUSED: Disposition.DRY,
                    AutopilotMode.APPROVAL: Disposition.PENDING}


class DecisionStatus(StrEnum):
    """A decision as the read models list it: its disposition, then its answer."""

    PUBLISHED = "published"
    DRY = "dry"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ADVICE = "advice"
    HELD = "held"


DISPOSITION_STATUS = {Disposition.PUBLISH: DecisionStatus.PUBLISHED, Disposition.DRY: DecisionStatus.DRY,
                      Disposition.PENDING: DecisionStatus.PENDING,
                      Disposition.ADVICE: DecisionStatus.ADVICE, Disposition.HELD: DecisionStatus.HELD}

# The order every move walks; an ending may follow any step before
# "committed", and nothing but "reclaimed" may follow "committed".
MOVE_STEPS = ("requested", "copied", "verified", "committed", "reclaimed")
PRE_COMMIT = MOVE_STEPS[:3]  # the steps a move can still be aborted from
MOVE_ENDINGS = ("aborted", "failed")


class MoveStatus(StrEnum):
    """A move as the read models list it: its last step or how it ended."""

    REQUESTED = "requested"
    COPIED = "copied"
    VERIFIED = "verified"
    COMMITTED = "committed"
    RECLAIMED = "reclaimed"
    ABORTED = "aborted"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its object was deleted while it was in flight
