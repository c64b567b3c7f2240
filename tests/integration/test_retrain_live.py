"""POST /ml/retrain with no trace trains on the live event log (SQLite store,
read model built by the projection runner), and the model is registered.
The job runs in the Ray job worker, as in a launched stack: not in the API's process."""

from __future__ import annotations

import pytest

from tests.support.api import api_client
from tiering.config import Settings
from tiering.domain.records import AccessRecord, Op
from tiering.ml.learn import CANDIDATES
from tiering.projections.queries import ReadModels
from tiering.projections.runner import ProjectionRunner
from tiering.services.job_runners import RayJobRunner
from tiering.shards.ingest import LocalIngest
from tiering.shards.worker import ShardWorker

pytestmark = pytest.mark.integration
DAY = 86_400.0
T0 = 1_700_000_000.0


def _history(ingest: LocalIngest) -> None:
    """120 days: 'daily/*' is read every day, 'once/*' only written."""
    ingest.ingest([AccessRecord(T0, "acme", f"{kind}/{i}", Op.PUT, 8 * 2 ** 20)
                   for kind in ("daily", "once") for i in range(60)])
    for day in range(1, 120):
        ingest.ingest([AccessRecord(T0 + day * DAY + i, "acme", f"daily/{i}", Op.GET, None)
                       for i in range(60)])


def jobs_api(settings):
    runner = RayJobRunner()
    client = api_client(Settings.model_validate(settings.model_dump()), job_runner=runner,
                        read_models=ReadModels.from_settings(settings))
    return client, runner


def test_retrain_without_a_trace_learns_from_the_live_log(ray_cluster, tmp_path):
    settings = Settings(data_dir=tmp_path, shards=2)
    workers = [ShardWorker(i, settings) for i in range(2)]
    _history(LocalIngest(workers))
    ProjectionRunner(settings).catch_up()
    client, runner = jobs_api(settings)

    r = client.post("/ml/retrain", json={})
    assert r.status_code == 202
    runner.drain()
    job = client.get(f"/ml/jobs/{r.json()['job_id']}").json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["stage"] == f"registered {job['version']}"
    model = client.get("/ml/model").json()
    assert model["version"] == job["version"]
    assert model["training_range"]["store"] == "live event log"
    assert model["training_range"]["objects"] == 120
    labels = model["train"]["labels"]
    assert labels["hot"] > 0 and labels["cold"] + labels["warm"] > 0  # both behaviours seen
    assert model["policy_params"]["rate_mode"]  # chosen on the training range
    # the "once" objects sit idle from day 1, so the pick moved them on the folds
    assert model["policy_config"] != "hold" and model["policy_params"]["hold"] is False
    # ours' promotion must pay for itself (ml.usage.promotion_pays), and the live policy is
    # rebuilt from these params, so it says so
    assert model["policy_params"]["promote_priced"] is True
    pick = CANDIDATES[model["policy_config"]]
    assert set(model["policy_tied_with"]) <= set(CANDIDATES) - {model["policy_config"]}
    assert (model["policy_params"]["rate_days"], model["policy_params"]["dwell_days"]) == \
        (pick["rate_days"], pick["dwell_days"])
    # the newcomers' settings, for objects registered after the training range (event time)
    newcomer, nc_params = model["policy_newcomer_config"], model["policy_params"]["newcomer"]
    assert set(nc_params) == {"rate_mode", "rate_days", "dwell_days", "hold"}
    assert nc_params["hold"] is (newcomer == "hold")
    if newcomer != "hold":
        assert CANDIDATES[newcomer]["labels"] == pick["labels"]  # one forest for both
        assert nc_params["rate_mode"] == CANDIDATES[newcomer]["rate_mode"]
    split = model["training_range"]["steps"][1]
    assert model["policy_params"]["newcomers_from_time"] == pytest.approx(T0 + split * DAY)
    for w in workers:
        w.close()
    runner.close()


def test_retrain_on_an_empty_log_fails_with_a_reason(ray_cluster, tmp_path):
    settings = Settings(data_dir=tmp_path)
    client, runner = jobs_api(settings)
    job_id = client.post("/ml/retrain", json={}).json()["job_id"]
    runner.drain()
    job = client.get(f"/ml/jobs/{job_id}").json()
    assert job["status"] == "failed" and "empty" in job["error"]
