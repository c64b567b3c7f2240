"""Model registry: joblib + JSON metadata, versioned."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from tiering.ml.features import FEATURES
from tiering.ml.registry import ModelRegistry


def test_save_load_and_versions(tmp_path):
    reg = ModelRegistry(tmp_path)
    assert reg.latest() is None
    with pytest.raises(KeyError):
        reg.load()
    x = np.random.default_rng(0).random((50, len(FEATURES)))
    clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, (x[:, 0] > 0.5).astype(int))
    meta = {"training_range": [0, 90], "features": list(FEATURES), "holdout": {"accuracy": 0.9}}
    assert reg.save(clf, meta) == "v1"
    assert reg.save(clf, meta) == "v2"
    assert reg.versions() == ["v1", "v2"] and reg.latest() == "v2"
    again, m = reg.load("v1")
    assert m["version"] == "v1" and m["features"] == list(FEATURES)
    assert (again.predict(x) == clf.predict(x)).all()
    with pytest.raises(ValueError, match="holdout"):
        reg.save(clf, {"training_range": [0, 1], "features": []})
    with pytest.raises(KeyError):
        reg.meta("v9")


def test_predictor_worker_scores_batches_with_the_registry_model(tmp_path):
    from tiering.actors.predictors import PredictorWorker, score_batches

    x = np.random.default_rng(1).random((1000, len(FEATURES)))
    y = (x[:, 0] > 0.5).astype(int) * 2
    clf = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    reg = ModelRegistry(tmp_path)
    reg.save(clf, {"training_range": [0, 1], "features": list(FEATURES), "holdout": {}})
    workers = [PredictorWorker(str(tmp_path)), PredictorWorker(str(tmp_path), "v1")]
    assert {w.version for w in workers} == {"v1"}
    labels, conf = score_batches(workers, x, batch=300)
    assert (labels == clf.predict(x)).all()
    assert ((conf > 0.5) & (conf <= 1)).all()
