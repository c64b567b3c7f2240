"""The predictor pool: actors that hold one model version and score feature rows.

``PredictorWorker`` is plain Python (testable in-process); ``PredictorPool``
runs N of them as Ray actors. Each gets the model by value (read from the
event store by whoever starts the pool), with its version, so every score can
name the model it came from and no actor reads a node's disk. The autopilot's decision
rounds and ``bench/predict.py`` use this one pool.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

BATCH = 50_000  # rows per call: large enough to amortise a call, small enough to spread


class PredictorWorker:
    def __init__(self, version: str | None, model: Any):
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


def score_batches(workers: Sequence[PredictorWorker], x: np.ndarray, batch: int = BATCH):
    """In-process reference: the same batching, one worker after another."""
    labels, conf = np.empty(len(x), dtype=int), np.empty(len(x))
    for i, start in enumerate(range(0, len(x), batch)):
        _, lab, c, _ = workers[i % len(workers)].score(start, x[start:start + batch])
        labels[start:start + len(lab)], conf[start:start + len(c)] = lab, c
    return labels, conf


class PredictorPool:
    """Handles of N predictor actors loaded with one model version. It is
    small and picklable, so a decision task anywhere in the cluster can score
    on it."""

    def __init__(self, handles: Sequence[Any], version: str | None, batch: int = BATCH):
        self.handles, self.version, self.batch = list(handles), version, batch

    @classmethod
    def start(cls, n: int, version: str | None, model: Any, *, num_cpus: float = 0,
              features: int | None = None, batch: int = BATCH) -> "PredictorPool":
        """N actors, each with the model loaded; raises here if it does not load."""
        import ray

        from tiering.adapters.ray_spread import spread

        # Restartable: a predictor on a node that dies comes back elsewhere
        # with the same model (its argument lives on in the object store).
        actor = ray.remote(num_cpus=num_cpus, max_restarts=-1, max_task_retries=-1)(PredictorWorker)
        ref = ray.put(model)  # one copy in the object store, whichever node each actor is on
        handles = [actor.options(**{**place, **({"num_cpus": num_cpus} if num_cpus else {})}).remote(version, ref)
                   for place in spread(n)]
        if features is not None:
            ray.get([h.score.remote(0, np.zeros((1, features))) for h in handles])
        return cls(handles, version, batch)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence) for every row of ``x``."""
        return self.score_versioned(x)[:2]

    def score_versioned(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, set[str]]:
        """Rows in slices of ``batch`` spread round-robin over the actors; ``x``
        is put in the object store once and each actor reads its slice of it
        without a copy."""
        import ray

        labels, conf, versions = np.empty(len(x), dtype=int), np.empty(len(x)), set()
        if not len(x):
            return labels, conf, versions
        xref = ray.put(np.ascontiguousarray(x))
        refs = [self.handles[i % len(self.handles)].score_slice.remote(start, self.batch, xref)
                for i, start in enumerate(range(0, len(x), self.batch))]
        for start, lab, c, v in ray.get(refs):
            labels[start:start + len(lab)], conf[start:start + len(c)] = lab, c
            versions.add(v)
        return labels, conf, versions

    def close(self) -> None:
        import ray

        for h in self.handles:
            ray.kill(h)
        self.handles = []
