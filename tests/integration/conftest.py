from __future__ import annotations

import pytest

from domain.application import ObjectLogApplication
from projections.runner import ProjectionRunner


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray for the session (2 cores: keep it small)."""
    import ray

    from tiering_app.cluster import ensure_auth_token

    ensure_auth_token()
    ray.init(num_cpus=2, include_dashboard=False, namespace="tiering-tests",
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def app(store_settings):
    app = ObjectLogApplication(env=store_settings.eventstore_env())
    yield app
    app.close()


@pytest.fixture
def runner(store_settings):
    runners = []

    def make(settings=store_settings):
        r = ProjectionRunner(settings)
        runners.append(r)
        return r

    yield make
    for r in runners:
        r.close()
