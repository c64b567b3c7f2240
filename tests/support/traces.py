"""Where the real access traces are: ``../shared/traces`` beside the checkout,
or ``$TIERING_SHARED_DIR/traces``. Tests read them there and never copy them
into the repository; a missing trace fails the tests that need it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

SHARED = Path(os.environ.get("TIERING_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
TRACES = SHARED / "traces"
IBM = TRACES / "ibm-cos-000-part0.txt"


def expected_counts(path: Path) -> Counter:
    """Computed from the file alone: every request counts until the object's
    first DELETE, which closes its log (this trace never re-PUTs a deleted key)."""
    counts, deleted = Counter(), set()
    with path.open() as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[2] in deleted:
                continue
            counts[parts[2]] += 1
            if parts[1] == "REST.DELETE.OBJECT":
                deleted.add(parts[2])
    return counts
