"""Versioned models in the event store, where every node reads them.

Each version is an aggregate written once (``domain.stack_settings.ModelVersion``:
its metadata and its joblib bytes, compressed, as base64); the model index, a
stored setting, names the versions in order with their metadata, so listing
and reading a model card never read an artifact. Metadata holds at least the
training range, the feature list and the holdout metrics; ``latest`` is the
highest version. A version is readable as soon as the index names it.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import joblib
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from tiering.adapters.retrying import retrying
from tiering.adapters.stack_settings import StoredSetting
from tiering.domain.stack_settings import MODEL_INDEX, ModelVersion, model_version_id

REQUIRED_META = ("training_range", "features", "holdout")


class StoredModels:
    def __init__(self, app: Application):
        self.app = app
        self.index = StoredSetting(app, MODEL_INDEX)

    def _index(self) -> dict[str, Any]:
        return self.index.get()[1] or {"versions": [], "meta": {}}

    def versions(self) -> list[str]:
        return list(self._index()["versions"])

    def latest(self) -> str | None:
        vs = self.versions()
        return vs[-1] if vs else None

    def save(self, model: Any, meta: dict[str, Any], by: str = "") -> str:
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ValueError(f"model metadata needs {', '.join(missing)}")
        buf = io.BytesIO()
        joblib.dump(model, buf, compress=("zlib", 3))
        artifact = base64.b64encode(buf.getvalue()).decode("ascii")
        # Two trainings at once: the later one takes the next version number.
        for attempt in retrying(IntegrityError, attempts=5, first_s=0.01, max_s=0.2):
            with attempt:
                index = self._index()
                last = index["versions"][-1] if index["versions"] else None
                version = f"v{int(last[1:]) + 1 if last else 1}"
                full = json.loads(json.dumps({**meta, "version": version}, default=str))
                self.app.save(ModelVersion(version, full, artifact))
                self.index.set({"versions": [*index["versions"], version],
                                "meta": {**index["meta"], version: full}}, by)
        return version

    def meta(self, version: str | None = None) -> dict[str, Any]:
        index = self._index()
        version = version or (index["versions"][-1] if index["versions"] else None)
        if version is None:
            raise KeyError("no model has been saved yet")
        if version not in index["meta"]:
            raise KeyError(f"unknown model version {version!r}")
        return index["meta"][version]

    def load(self, version: str | None = None) -> tuple[Any, dict[str, Any]]:
        meta = self.meta(version)
        # version=1: straight from the store, never kept in the aggregate cache
        stored: Any = self.app.repository.get(model_version_id(meta["version"]), version=1)
        return joblib.load(io.BytesIO(base64.b64decode(stored.artifact))), meta
