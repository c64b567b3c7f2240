"""A pool of predictor actors scoring feature batches in parallel.

``PredictorWorker`` is plain Python (testable in-process); ``predictor_pool``
wraps N of them as Ray actors in a ``ray.util.ActorPool``. A model is loaded
from the registry by version, so every score can name the model it came from.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class PredictorWorker:
    def __init__(self, registry_root: str | None = None, version: str | None = None, model: Any = None):
        if model is None:
            from tiering.ml.registry import ModelRegistry

            model, meta = ModelRegistry(registry_root).load(version)
            version = meta["version"]
        if hasattr(model, "n_jobs"):
            model.n_jobs = 1  # one core per actor; the pool gives the parallelism
        self.model, self.version = model, version or "unversioned"

    def score(self, start: int, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, str]:
        """(start, labels, confidence, model version) for one batch."""
        proba = self.model.predict_proba(x)
        best = proba.argmax(axis=1)
        return start, self.model.classes_[best], proba[np.arange(len(best)), best], self.version


    def score_slice(self, start: int, size: int, x: np.ndarray):
        """Score ``x[start:start + size]``; ``x`` arrives from the object store."""
        return self.score(start, x[start:start + size])


def score_batches(workers: Sequence[PredictorWorker], x: np.ndarray, batch: int = 50_000):
    """In-process reference: the same batching, one worker after another."""
    labels, conf = np.empty(len(x), dtype=int), np.empty(len(x))
    for i, start in enumerate(range(0, len(x), batch)):
        _, lab, c, _ = workers[i % len(workers)].score(start, x[start:start + batch])
        labels[start:start + len(lab)], conf[start:start + len(c)] = lab, c
    return labels, conf


def predictor_pool(n: int, registry_root: str | None = None, version: str | None = None, model: Any = None):
    import ray
    from ray.util import ActorPool

    cls = ray.remote(num_cpus=1)(PredictorWorker)
    ref = ray.put(model) if model is not None else None
    return ActorPool([cls.remote(registry_root, version, ref) for _ in range(n)])


def score_with_pool(pool, x: np.ndarray, batch: int = 50_000) -> tuple[np.ndarray, np.ndarray, set[str]]:
    import ray

    xref = ray.put(x)  # one copy in the object store; actors slice it zero-copy
    labels, conf, versions = np.empty(len(x), dtype=int), np.empty(len(x)), set()
    starts = list(range(0, len(x), batch))
    for start, lab, c, v in pool.map_unordered(lambda a, s: a.score_slice.remote(s, batch, xref), starts):
        labels[start:start + len(lab)], conf[start:start + len(c)] = lab, c
        versions.add(v)
    return labels, conf, versions
