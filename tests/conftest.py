import numpy as np
import pytest

import qnntraps

SMALL_IDS = [
    "construction-p2-v1",
    "construction-p4-v1",
    "construction-p6-v1",
    "construction-coupled-p4-v1",
    "construction-coupled-p6-v1",
    "construction-p4-noise0.1-v1",
    "construction-coupled-p4-noise0.05-v1",
    "construction-p8-noise0.01-v1",
    "separable-p2-v1",
    "separable-p4-flip0.1-v1",
]


@pytest.fixture(scope="session")
def load():
    cache = {}

    def _load(instance_id):
        if instance_id not in cache:
            cache[instance_id] = qnntraps.load(instance_id)
        return cache[instance_id]

    return _load


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)
