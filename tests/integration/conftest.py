from __future__ import annotations

import pytest


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
