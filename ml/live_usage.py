"""The usage grid a live decision reads: the last weeks dense, everything older summed up.

A decision at event time ``now`` reads windows of at most ``WINDOW_DAYS`` before
it (ml.features, the guard's rates); older history matters only through totals,
the newest accesses and the gaps between them, which ``PriorUsage`` keeps per
object. So a round's memory grows with the objects it decides times the window,
never with how far back their registrations go: one record dated 1970 once made
a shard build a grid of 20,000 days per object and die of it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Sequence

import numpy as np

from tiering.domain.clock import DAY_S
from tiering.ml.features import WINDOWS_DAYS
from tiering.ml.history import _fold_events
from tiering.ml.usage import AT_BIRTH, NEVER, PriorUsage, Usage

FIELDS = ("gets", "get_bytes", "puts", "reads", "lat_sum", "lat_n")
# The longest window any feature or rate estimate reads (ml.learn's candidates
# use 7 and 30 days), with a day to spare so no window reaches past the grid.
WINDOW_DAYS = max(*WINDOWS_DAYS, 30) + 1


def windowed_usage(logs: Sequence[Sequence], registered_at: Sequence[float], sizes: Sequence[int],
                   now: float, step_s: float = DAY_S, window_days: float = WINDOW_DAYS
                   ) -> tuple[Usage, np.ndarray]:
    """(usage, GETs per step) of objects with these event logs, on steps from the oldest
    registration to the step holding ``now``, of which only the last ``window_days``
    are kept as a grid and the rest in ``Usage.prior``. The last step is the one being
    decided, so it holds nothing: a policy sees only what happened before it, as in
    the simulator."""
    n = len(logs)
    origin = min(registered_at)
    steps = max(1, int((now - origin) // step_s)) + 1
    width = min(steps, max(2, int(np.ceil(window_days * DAY_S / step_s)) + 1))
    offset = steps - width
    grid = SimpleNamespace(origin=origin, step_s=step_s, steps=steps)
    arr = {f: np.zeros((n, width)) for f in FIELDS}
    birth = np.zeros(n, dtype=int)
    prior = PriorUsage.empty(n) if offset else None
    for i, evs in enumerate(logs):
        row = _fold_events(evs, grid)
        early = []
        for s, vals in row["steps"].items():
            if s >= steps - 1:
                continue
            if s >= offset:
                for f, v in vals.items():
                    arr[f][i, s - offset] += v
            else:
                early.append((s, vals))
        born = min(row["birth"], steps - 1)
        birth[i] = born - offset
        if early and prior is not None:
            _sum_up(prior, i, sorted(early, key=lambda sv: sv[0]), born, offset)
    u = Usage(arr["gets"], arr["get_bytes"], arr["puts"], np.array([float(s) for s in sizes]),
              birth, np.full(n, width, dtype=int), step_s, arr["lat_sum"], arr["lat_n"], prior)
    return u, arr["reads"]


def _sum_up(prior: PriorUsage, i: int, early: list[tuple[int, dict]], born: int, offset: int) -> None:
    """Object ``i``'s steps before the grid, oldest first, folded the way
    ``FeatureBuilder.advance`` walks a grid."""
    for s, vals in early:
        get = lambda f: float(vals.get(f, 0))  # noqa: E731
        for f in ("gets", "puts", "get_bytes", "lat_sum", "lat_n"):
            prior.totals[f][i] += get(f)
        if s == born:
            for f in AT_BIRTH:
                prior.at_birth[f][i] = get(f)
        step = s - offset  # numbered as in the grid: negative
        if get("gets") + get("puts") > 0:
            prior.totals["active"][i] += 1
            if prior.last[i] > NEVER:
                gap = float(step - prior.last[i])
                prior.gaps_n[i] += 1
                prior.gaps_sum[i] += gap
                prior.gaps_sq[i] += gap * gap
            prior.last[i] = step
        if get("reads") + get("puts") > 0:
            prior.last_touch[i] = step
        if get("reads") > 0:
            prior.last_read[i] = step
