"""Writes in a type a browser sends cross-site without a preflight are
refused with 415 before any route runs, and change nothing."""

import pytest

from tests.support.api import api_client
from tiering.config import Settings

EVIL = {"origin": "https://evil.example"}


@pytest.fixture
def client(tmp_path):
    return api_client(Settings(data_dir=tmp_path), raise_server_exceptions=False)


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8",
                                   "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_a_cross_site_simple_write_is_refused_and_changes_nothing(client, tmp_path, ctype):
    headers = {**EVIL, **({"content-type": ctype} if ctype else {})}
    body = b'{"defaults": {"hot": {"storage_gb_month": 9}}}'
    r = client.put("/policies", content=body, headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    assert client.get("/policies").json()["defaults"] == {}
    r = client.put("/autopilot", content=b'{"mode": "auto"}', headers=headers)
    assert r.status_code == 415


def test_json_writes_pass_and_ingest_also_takes_ndjson(client, tmp_path):
    assert client.put("/policies", json={"defaults": {"hot": {"storage_gb_month": 9}}}).status_code == 200
    assert client.get("/policies").json()["defaults"]["hot"]["storage_gb_month"] == 9
    for ctype in ("application/x-ndjson", "application/json"):
        r = client.post("/accesses", content=b"[]", headers={"content-type": ctype})
        assert r.status_code != 415, (ctype, r.text)
    assert client.post("/ml/retrain", content=b"[]", headers={"content-type": "application/x-ndjson"}
                       ).status_code == 415


def test_a_trace_upload_takes_a_file_type_but_not_a_cross_site_one(client, tmp_path):
    r = client.put("/whatif/traces/t.csv", content=b"a,b\n", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and not (tmp_path / "traces" / "t.csv").exists()
    r = client.put("/whatif/traces/t.csv", content=b"a,b\n", headers={"content-type": "text/csv"})
    assert r.status_code == 201 and (tmp_path / "traces" / "t.csv").read_bytes() == b"a,b\n"


def test_a_write_without_a_body_needs_no_type(client):
    assert client.post("/autopilot/run").status_code != 415


def test_the_api_answers_only_to_its_allowed_host_names(tmp_path):
    settings = Settings(data_dir=tmp_path, allowed_hosts=["tiering.example.com"])
    client = api_client(settings, raise_server_exceptions=False)
    for host in ("localhost:8000", "127.0.0.1", "tiering.example.com"):
        assert client.get("/policies", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", "rebound.attacker.net:8000"):
        r = client.get("/policies", headers={"host": host})
        assert r.status_code == 400, host
    assert "testserver" not in Settings(data_dir=tmp_path, allowed_hosts=[]).resolved_allowed_hosts
