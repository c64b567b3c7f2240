"""REST: /ml/retrain, /ml/jobs/{id}, /ml/model, /policies."""


import pytest

from tests.support.api import api_client, drain_jobs
from tests.support.traces import IBM
from tiering.config import Settings


@pytest.fixture
def client(tmp_path):
    return api_client(Settings(data_dir=tmp_path))


def test_policies_round_trip_and_validation(client):
    assert client.get("/policies").json() == {"defaults": {}, "tenants": {}, "prefixes": [],
                                              "quotas": {"defaults": {}, "tenants": {}},
                                              "decisions": {"operator_hold_days": 30.0}}
    body = {"tenants": {"acme": {"cold": {"min_storage_days": 180}}},
            "prefixes": [{"prefix": "logs/", "warm": {"retrieval_gb": 0.02}}]}
    r = client.put("/policies", json=body)
    assert r.status_code == 200
    got = client.get("/policies").json()
    assert got["tenants"] == body["tenants"] and got["prefixes"] == body["prefixes"]
    bad = client.put("/policies", json={"tenants": {"acme": {"cold": {"min_storage_days": -1}}}})
    assert bad.status_code == 422 and "tenants.acme" in bad.json()["detail"]


def test_model_is_404_before_any_training(client):
    assert client.get("/ml/model").status_code == 404
    assert client.get("/ml/jobs/nope").status_code == 404
    r = client.post("/ml/retrain", json={"trace": "/no/file", "format": "msr"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "trace"


def test_retrain_takes_a_bare_name_from_the_traces_dir_and_registers_a_model(client, tmp_path):
    # One training for both checks: it is the slowest step of the unit tests.
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "slice.txt").write_text("\n".join(IBM.read_text().splitlines()[:2001]) + "\n")
    r = client.post("/ml/retrain", json={"trace": "slice.txt", "format": "ibm-cos", "time_scale": 16000})
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert r.json()["job_id"] == job_id
    drain_jobs(client)
    job = client.get(f"/ml/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    model = client.get("/ml/model").json()
    assert model["version"] == job["version"] == "v1"
    assert model["holdout"]["rows"] > 0 and 0 <= model["holdout"]["accuracy"] <= 1
    assert model["feature_importances"] and model["training_range"]["steps"][0] == 0
    assert model["training_range"]["trace"].endswith("traces/slice.txt")
    bad = client.post("/ml/retrain", json={"trace": "other.txt", "format": "ibm-cos"})
    assert bad.status_code == 422 and "other.txt" in bad.json()["errors"][0]["reason"]
    absolute = client.post("/ml/retrain", json={"trace": str(tmp_path / "traces" / "slice.txt"),
                                                "format": "ibm-cos"})
    assert absolute.status_code == 422 and absolute.json()["errors"][0]["field"] == "trace"


def test_whatif_runs_an_evaluation_on_a_trace_in_the_data_dir(client, tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "slice.txt").write_text("\n".join(IBM.read_text().splitlines()[:1500]) + "\n")
    listed = client.get("/whatif/traces").json()["traces"]
    assert str(tmp_path) not in client.get("/whatif/traces").text
    assert listed == [{"name": "slice.txt", "size": (traces / "slice.txt").stat().st_size}]
    for bad, field in (({"trace": "../slice.txt", "format": "ibm-cos"}, "trace"),
                       ({"trace": "missing.txt", "format": "ibm-cos"}, "trace"),
                       ({"trace": "slice.txt", "format": "tarot"}, "format"),
                       ({"trace": "slice.txt", "format": "ibm-cos", "policies": ["vibes"]}, "policies")):
        r = client.post("/whatif", json=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    r = client.post("/whatif", json={"trace": "slice.txt", "format": "ibm-cos", "time_scale": 16000,
                                     "policies": ["s3-intelligent-tiering"]})
    assert r.status_code == 202
    drain_jobs(client)
    job = client.get(f"/ml/jobs/{r.json()['job_id']}").json()
    assert job["status"] == "succeeded" and job["kind"] == "whatif" and job["progress"] == 1.0, job
    table = job["result"]["policies"]
    assert set(table) == {"always-hot", "s3-intelligent-tiering", "oracle"}
    assert table["oracle"]["total_usd"] <= table["always-hot"]["total_usd"]
    assert 1400 < job["result"]["records"] + job["result"]["bad_lines"] <= 1500
