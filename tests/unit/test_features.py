"""Features at a step use only the history before it."""

import numpy as np
import pytest

from tiering.ml.features import FEATURES, FeatureBuilder, group_hash
from tiering.ml.usage import Usage

DAY = 86_400.0


def make():
    gets = np.zeros((2, 10))
    gets[0, [0, 2, 6]] = [1, 2, 3]
    size = np.array([1e6, 5e6])
    return Usage(gets, gets * size[:, None], np.zeros((2, 10)), size, np.array([0, 3]),
                 np.full(2, 10), DAY)


def test_windows_recency_gaps_and_age():
    u = make()
    fb = FeatureBuilder(u, np.array([0.1, 0.2]))
    m = fb.matrix(7, np.array([0, 1]), np.array([7.0, 2.0]))
    f = dict(zip(FEATURES, m[0]))
    assert m.shape == (2, len(FEATURES))
    # steps 0..6 are the last 7 days before step 7
    assert f["gets_1d"] == 3 and f["gets_7d"] == 6 and f["gets_30d"] == 6
    assert f["recency_days"] == 0  # accessed during step 6, deciding for step 7
    assert f["age_days"] == 7
    assert f["gap_mean_days"] == pytest.approx(3.0)   # gaps 2 and 4
    assert f["gap_std_days"] == pytest.approx(1.0)
    assert f["log_bytes_30d"] == pytest.approx(np.log1p(6e6))
    assert f["tier"] == 0 and f["days_in_tier"] == 7
    g = dict(zip(FEATURES, m[1]))
    assert g["gets_30d"] == 0 and g["age_days"] == 4 and g["recency_days"] == 4
    assert g["tier"] == 1


def test_no_peeking_at_the_decision_step():
    u = make()
    early = FeatureBuilder(u, np.zeros(2)).matrix(6, np.zeros(2, int), np.zeros(2))
    assert dict(zip(FEATURES, early[0]))["gets_30d"] == 3  # the 3 GETs of step 6 are not in yet


def test_group_hash_is_stable_per_tenant_and_prefix():
    assert group_hash("a", "logs/1") == group_hash("a", "logs/2")
    assert group_hash("a", "logs/1") != group_hash("b", "logs/1")
    assert 0 <= group_hash("a", "x") < 1
