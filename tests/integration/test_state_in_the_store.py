"""Nothing an actor needs sits on the launch node's disk. Shards, movers and the
projection runner run with a data dir of their own that does not exist (as on
another node), over one PostgreSQL; the API runs with the launch's. Price
overrides, the autopilot's mode and a retrained model all reach them through
the event store, and the actors' data dir is never created."""

from __future__ import annotations

import time

import pytest

from tests.support.api import authorized
from tests.support.move_stack import MoveStack
from tiering.actors.background import background_actor_classes
from tiering.adapters.eventstore import open_object_logs
from tiering.adapters.stack_settings import StoredSetting
from tiering.domain.records import AccessRecord, Op
from tiering.domain.stack_settings import AUTOPILOT_MODE
from tiering.projections.queries import ReadModels
from tiering.services.job_runners import RayJobRunner
from tiering.shards.ingest import ShardIngest

pytestmark = pytest.mark.integration
DAY = 86_400.0
T0 = 1_700_000_000.0


def _eventually(check, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_policies_mode_and_models_reach_actors_that_share_no_disk_with_the_launch(
        ray_cluster, tmp_path, seaweed, postgres_url):
    import ray
    from fastapi.testclient import TestClient

    from tiering.web.app import create_app
    from tiering.web.deps import Services

    node_dir = tmp_path / "node"  # the actors' data dir: never made
    stack = MoveStack(tmp_path, seaweed, data_dir=node_dir, database_url=postgres_url, predictors=1)
    launch = stack.settings.model_copy(update={"data_dir": tmp_path / "launch"})
    runner_cls, _ = background_actor_classes()
    runner = runner_cls.remote(stack.settings.model_dump(mode="json"))
    jobs = RayJobRunner()
    services = Services(settings=launch, ingest_port=ShardIngest(stack.shards), job_runner=jobs,
                        read_models=ReadModels.from_settings(launch), **stack.runtime.use_cases())
    client = authorized(TestClient(create_app(services)))
    try:
        ingest = ShardIngest(stack.shards)
        ingest.ingest([AccessRecord(T0, "acme", f"{kind}/{i}", Op.PUT, 8 * 2 ** 20)
                       for kind in ("daily", "once") for i in range(60)])
        for day in range(1, 120):  # 'daily/*' read every day, 'once/*' only written
            ingest.ingest([AccessRecord(T0 + day * DAY + i, "acme", f"daily/{i}", Op.GET, None)
                           for i in range(60)])
        assert ray.get(runner.wait_caught_up.remote(60))

        # Price overrides: the runner re-buckets by the new prefix rule.
        r = client.put("/policies", json={"prefixes": [{"prefix": "daily/", "warm": {"storage_gb_month": 1.0}}]})
        assert r.status_code == 200, r.text
        rm = ReadModels.from_settings(launch)
        _eventually(lambda: any(row[1] == "daily/" for row in rm.dump()["rm_scope_stats"]),
                    "the projection runner actor never bucketed by the stored policy")

        # The autopilot's mode: whoever reads the store sees the one in force.
        assert client.put("/autopilot", json={"mode": "paused"}).status_code == 200
        elsewhere = StoredSetting(open_object_logs(stack.settings.eventstore_env()), AUTOPILOT_MODE)
        assert elsewhere.get()[1] == {"mode": "paused"}
        assert stack.runtime.autopilot.mode == "paused"

        # A retrain: the job stores the model; the next round scores with it on the predictors.
        r = client.post("/ml/retrain", json={})
        assert r.status_code == 202, r.text
        jobs.drain()
        job = client.get(f"/ml/jobs/{r.json()['job_id']}").json()
        assert job["status"] == "succeeded", job
        client.post("/autopilot/run").raise_for_status()
        state = client.get("/autopilot").json()
        assert state["model_version"] == job["version"] and state["policy"] == f"ours@{job['version']}"
        assert len(stack.runtime.autopilot.pool.handles) == 1

        assert not node_dir.exists(), sorted(p.name for p in node_dir.rglob("*"))
    finally:
        services.close()
        jobs.close()
        ray.get(runner.stop.remote())
        ray.kill(runner)
        stack.close()
