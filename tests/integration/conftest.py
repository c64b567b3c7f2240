from __future__ import annotations

import pytest

from tiering.adapters.eventstore import open_object_logs
from tiering.projections.runner import ProjectionRunner


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray for the session (2 cores: keep it small)."""
    import ray

    from tiering.app.cluster import ensure_auth_token

    ensure_auth_token()
    ray.init(num_cpus=2, include_dashboard=False, namespace="tiering-tests",
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def app(store_settings):
    app = open_object_logs(store_settings.eventstore_env())
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


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One real SeaweedFS (auth on) for every move test of the session."""
    from tiering.devstack import SeaweedFS

    server = SeaweedFS(tmp_path_factory.mktemp("moves-seaweed")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """One real Kafka broker (KRaft) for the session."""
    from tiering.devstack import KafkaBroker

    broker = KafkaBroker(tmp_path_factory.mktemp("moves-kafka")).start()
    yield broker
    broker.stop()


@pytest.fixture
def stack(ray_cluster, tmp_path, seaweed):
    """A MoveStack on the shared SeaweedFS, in-process bus; closed (and its buckets dropped) after."""
    # imported here: the moves runtime pulls in Ray, Kafka and S3 clients, and half the modules here never use it
    from tests.support.move_stack import MoveStack

    s = MoveStack(tmp_path, seaweed)
    yield s
    s.close()
