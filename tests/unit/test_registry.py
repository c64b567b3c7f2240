"""Models in the event store: versioned, listed by an index, loaded anywhere."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from tiering.adapters.model_store import StoredModels
from tiering.domain.application import ObjectLogApplication
from tiering.ml.features import FEATURES


def store() -> ObjectLogApplication:
    return ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_save_load_and_versions():
    app = store()
    reg = StoredModels(app)
    assert reg.latest() is None
    with pytest.raises(KeyError):
        reg.load()
    x = np.random.default_rng(0).random((50, len(FEATURES)))
    clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, (x[:, 0] > 0.5).astype(int))
    meta = {"training_range": [0, 90], "features": list(FEATURES), "holdout": {"accuracy": 0.9}}
    assert reg.save(clf, meta) == "v1"
    assert StoredModels(app).save(clf, meta) == "v2"  # another process's view of the same store
    assert reg.versions() == ["v1", "v2"] and reg.latest() == "v2"
    again, m = StoredModels(app).load("v1")
    assert m["version"] == "v1" and m["features"] == list(FEATURES)
    assert (again.predict(x) == clf.predict(x)).all()
    with pytest.raises(ValueError, match="holdout"):
        reg.save(clf, {"training_range": [0, 1], "features": []})
    with pytest.raises(KeyError):
        reg.meta("v9")


def test_predictor_worker_scores_batches_with_the_stored_model():
    from tiering.actors.predictors import PredictorWorker, score_batches

    x = np.random.default_rng(1).random((1000, len(FEATURES)))
    y = (x[:, 0] > 0.5).astype(int) * 2
    clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    reg = StoredModels(store())
    version = reg.save(clf, {"training_range": [0, 1], "features": list(FEATURES), "holdout": {}})
    model, _ = reg.load(version)
    workers = [PredictorWorker(version, model), PredictorWorker(version, model)]
    assert {w.version for w in workers} == {"v1"}
    labels, conf = score_batches(workers, x, batch=300)
    assert (labels == clf.predict(x)).all()
    assert ((conf > 0.5) & (conf <= 1)).all()
