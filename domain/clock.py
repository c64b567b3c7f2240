"""Event time: the domain's one clock, and how a replay stretches it.

Event time comes in with the records; the domain never reads the wall
clock. A replayed trace can be stretched (``stretch``) so that an hour of
trace covers months of event time; ``tiering evaluate`` and
``tiering replay-trace --time-scale`` stretch the same way, so what the
evaluator prices is what the live system replays.
"""

from __future__ import annotations

HOUR_S = 3_600
DAY_S = 86_400


def stretch(ts: float, origin: float, scale: float) -> float:
    """``ts`` stretched by ``scale`` around ``origin`` (the replay's first record)."""
    return origin + (ts - origin) * scale
