"""Versioned model artifacts: ``<root>/<version>/model.joblib`` + ``meta.json``.

Metadata holds at least the training range, the feature list and the holdout
metrics; ``latest`` is the highest version. Writes go to a temporary directory
that is renamed into place, so a reader never sees half a model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import joblib

REQUIRED_META = ("training_range", "features", "holdout")


class ModelRegistry:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[str]:
        return sorted((p.name for p in self.root.iterdir()
                       if p.is_dir() and (p / "meta.json").exists() and p.name.startswith("v")),
                      key=lambda v: int(v[1:]))

    def latest(self) -> str | None:
        vs = self.versions()
        return vs[-1] if vs else None

    def save(self, model: Any, meta: dict[str, Any]) -> str:
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ValueError(f"model metadata needs {', '.join(missing)}")
        last = self.latest()
        version = f"v{int(last[1:]) + 1 if last else 1}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
        joblib.dump(model, tmp / "model.joblib")
        (tmp / "meta.json").write_text(json.dumps({**meta, "version": version}, indent=2, default=str))
        os.rename(tmp, self.root / version)
        return version

    def meta(self, version: str | None = None) -> dict[str, Any]:
        version = version or self.latest()
        if version is None:
            raise KeyError("no model has been saved yet")
        path = self.root / version / "meta.json"
        if not path.exists():
            raise KeyError(f"unknown model version {version!r}")
        return json.loads(path.read_text())

    def load(self, version: str | None = None) -> tuple[Any, dict[str, Any]]:
        meta = self.meta(version)
        return joblib.load(self.root / meta["version"] / "model.joblib"), meta
