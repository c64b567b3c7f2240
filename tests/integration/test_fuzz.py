"""Schemathesis against the app's own OpenAPI, with a valid admin key, on a
whole stack (shards, movers, an object store, read models, the autopilot):
no answer of 500 or more to anything the schema allows, or bends.

Examples are bounded per operation and derived deterministically (no
database, derandomized), so a failure reproduces run after run.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support.api import issue_key
from tiering.services.job_runners import InProcessJobRunner

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def app(stack):
    from tiering.projections.queries import ReadModels
    from tiering.shards.ingest import ShardIngest
    from tiering.web.app import create_app
    from tiering.web.deps import Services

    services = Services(settings=stack.settings, ingest_port=ShardIngest(stack.shards),
                        read_models=ReadModels.from_settings(stack.settings), job_runner=InProcessJobRunner(),
                        **stack.runtime.use_cases())
    stack.put({"a": 1000, "b/c": 10})
    yield create_app(services)
    services.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_operation_answers_5xx(app, mode):
    key = issue_key(app.state.services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            nonlocal calls
            calls += 1
            r = case.call(headers={"Authorization": f"Bearer {key}", "host": "testserver"})
            if r.status_code >= 500:
                failures.append(f"{operation.label}: {r.status_code} {r.text[:160]}")
            assert "Traceback" not in r.text

        try:
            check()
        except Unsatisfiable:  # nothing to bend: an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE
    assert calls > 150
    assert failures == []
