"""What the policy tests share: usage from arrays, a schedule of one policy, stub models."""

import numpy as np

from tiering.domain.costs import CostModel
from tiering.ml.features import FeatureBuilder
from tiering.ml.simulate import run_policy
from tiering.ml.usage import COLD, HOT, WARM, Usage

DAY = 86_400.0
T = 200


def usage(gets, size, puts=None, birth=None):
    gets = np.asarray(gets, dtype=float)
    n = gets.shape[0]
    size = np.asarray(size, dtype=float)
    return Usage(gets, gets * size[:, None], np.zeros_like(gets) if puts is None else puts, size,
                 np.zeros(n, int) if birth is None else birth, np.full(n, gets.shape[1]), DAY)


def schedule(policy, u, reads=None):
    return run_policy(policy, u, FeatureBuilder(u, np.zeros(u.n), reads), CostModel())


def run(policy, u, reads=None):
    return schedule(policy, u, reads).x


class Unsure:
    classes_ = np.array([HOT, WARM, COLD])

    def predict_proba(self, x):
        return np.tile([0.4, 0.3, 0.3], (len(x), 1))


class SaysCold(Unsure):
    def predict_proba(self, x):
        return np.tile([0.0, 0.0, 1.0], (len(x), 1))
