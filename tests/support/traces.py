"""Where the real access traces are: ``../shared/traces`` beside the checkout,
or ``$TIERING_SHARED_DIR/traces``. Tests read them there and never copy them
into the repository; a missing trace fails the tests that need it."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("TIERING_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
TRACES = SHARED / "traces"
IBM = TRACES / "ibm-cos-000-part0.txt"
