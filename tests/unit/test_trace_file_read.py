"""Trace jobs read only the trace library: every way out of it is refused alike.

Each case reproduces a probe that once read a server file through
``POST /ml/retrain`` or ``POST /whatif`` (its first line came back in the
job's error), or told a caller whether a path exists.
"""

import os
from pathlib import Path

import pytest

from tests.support.api import api_client, drain_jobs
from tiering.config import Settings
from tiering.ingest.formats import TraceError
from tiering.ingest.trace_library import TraceLibrary

SECRET = "root:x:0:0:root:/root:/bin/bash"
CSV_PROBE = {"format": "csv", "mapping": "ts=a,key=b,op=c"}


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "data" / "traces").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text(SECRET + "\n")
    return tmp_path / "data"


@pytest.fixture
def client(data_dir):
    return api_client(Settings(data_dir=data_dir, max_trace_bytes=4096))


def drain(client) -> None:
    drain_jobs(client)


def refused(r, field: str = "trace") -> str:
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field, r.text
    assert SECRET not in r.text and "root:" not in r.text
    return r.json()["errors"][0]["reason"]


@pytest.mark.parametrize("endpoint", ["/ml/retrain", "/whatif"])
@pytest.mark.parametrize("trace", [
    "/etc/passwd", "/etc/shadow", "/proc/self/environ", "../../../etc/passwd", "../outside.txt",
    str(Path.home() / ".ray" / "auth_token"), "traces/../../outside.txt", "./x", ".hidden",
    "a/b", "a\\b", "x\x00y", "", "..",
])
def test_a_path_is_refused_before_anything_is_read(client, endpoint, trace):
    reason = refused(client.post(endpoint, json={"trace": trace, **CSV_PROBE}))
    assert "no paths" in reason
    state = getattr(client.app.state, "ml", None)
    assert state is None or not state.jobs


@pytest.mark.parametrize("endpoint", ["/ml/retrain", "/whatif"])
def test_existence_outside_the_library_is_not_revealed(client, data_dir, endpoint):
    """An absolute path that exists and one that does not get the same answer;
    a link out of the library reads as a missing name."""
    there = client.post(endpoint, json={"trace": str(data_dir.parent / "outside.txt"), **CSV_PROBE})
    absent = client.post(endpoint, json={"trace": str(data_dir.parent / "absent.txt"), **CSV_PROBE})
    assert there.status_code == absent.status_code == 422
    assert there.json() == absent.json()
    traces = data_dir / "traces"
    (traces / "escape.csv").symlink_to(data_dir.parent / "outside.txt")
    (traces / "dangling.csv").symlink_to(data_dir.parent / "absent.txt")
    (traces / "etc.csv").symlink_to("/etc/passwd")
    missing = refused(client.post(endpoint, json={"trace": "nothing.csv", **CSV_PROBE}))
    for name in ("escape.csv", "dangling.csv", "etc.csv"):
        reason = refused(client.post(endpoint, json={"trace": name, **CSV_PROBE}))
        assert reason == missing.replace("nothing.csv", name)


@pytest.mark.parametrize("endpoint", ["/ml/retrain", "/whatif"])
def test_only_regular_files_under_the_cap_are_read(client, data_dir, endpoint):
    traces = data_dir / "traces"
    (traces / "folder").mkdir()
    os.mkfifo(traces / "pipe")
    (traces / "zero").symlink_to("/dev/zero")
    for name in ("folder", "pipe", "zero"):
        assert "no trace named" in refused(client.post(endpoint, json={"trace": name, **CSV_PROBE}))
    (traces / "big.csv").write_text("a,b,c\n" + "1,k,GET\n" * 1000)
    reason = refused(client.post(endpoint, json={"trace": "big.csv", **CSV_PROBE}))
    assert "over the limit of 4,096" in reason and "TIERING_MAX_TRACE_BYTES" in reason
    listed = client.get("/whatif/traces").json()
    assert listed["traces"] == [] and str(data_dir) not in str(listed)


@pytest.mark.parametrize("endpoint", ["/ml/retrain", "/whatif"])
def test_a_job_error_never_quotes_the_file(client, data_dir, endpoint):
    """A file in the library whose header does not fit the mapping: the job
    fails naming the column, not the header it read."""
    (data_dir / "traces" / "passwd.csv").write_text(SECRET + "\nmore:secret\n")
    r = client.post(endpoint, json={"trace": "passwd.csv", **CSV_PROBE})
    assert r.status_code == 202, r.text
    drain(client)
    job = client.get(f"/ml/jobs/{r.json()['job_id']}").json()
    assert job["status"] == "failed"
    assert "column 'a' is not in the trace's header row" in job["error"]
    assert "root" not in str(job) and "secret" not in str(job)


def test_an_unexpected_job_error_is_a_reference_not_a_message(client, data_dir, monkeypatch):
    from tiering.simulation import retrain

    def leaky(*_args, **_kwargs):
        raise RuntimeError(f"could not parse {SECRET!r}")

    monkeypatch.setattr(retrain, "retrain_from_trace", leaky)
    (data_dir / "traces" / "t.txt").write_text("x\n")
    r = client.post("/ml/retrain", json={"trace": "t.txt", "format": "ibm-cos"})
    drain(client)
    job = client.get(f"/ml/jobs/{r.json()['job_id']}").json()
    assert job["status"] == "failed" and SECRET not in str(job)
    assert job["error"].startswith("retrain failed on an internal error") and r.json()["job_id"] in job["error"]


def test_bad_trace_arguments_are_refused_before_the_file(client, data_dir):
    (data_dir / "traces" / "t.csv").write_text("a,b,c\n")
    assert "format csv needs a mapping" in refused(
        client.post("/whatif", json={"trace": "t.csv", "format": "csv"}), "mapping")
    assert "only to format csv" in refused(
        client.post("/whatif", json={"trace": "t.csv", "format": "msr", "mapping": "ts=a"}), "mapping")
    assert "unknown field" in refused(
        client.post("/ml/retrain", json={"trace": "t.csv", "format": "csv", "mapping": "x=a"}), "mapping")


def test_an_upload_lands_in_the_library_within_the_cap(client, data_dir):
    body = b"a,b,c\n1,k,GET\n"
    octets = {"content-type": "application/octet-stream"}
    r = client.put("/whatif/traces/mine.csv", content=body, headers=octets)
    assert r.status_code == 201 and r.json() == {"name": "mine.csv", "size": len(body)}
    assert (data_dir / "traces" / "mine.csv").read_bytes() == body
    assert (data_dir / "traces" / "mine.csv").stat().st_mode & 0o777 == 0o600
    assert client.get("/whatif/traces").json()["traces"] == [{"name": "mine.csv", "size": len(body)}]
    too_big = client.put("/whatif/traces/big.csv", content=b"x" * 5000, headers=octets)
    assert too_big.status_code == 413 and "4,096" in too_big.json()["detail"]

    def chunks():  # no Content-Length: the cap is enforced while streaming
        for _ in range(5):
            yield b"x" * 1000

    streamed = client.put("/whatif/traces/big.csv", content=chunks(), headers=octets)
    assert streamed.status_code == 413
    for bad in ("..", ".env", "a%2Fb", "x%00"):
        assert client.put(f"/whatif/traces/{bad}", content=b"x",
                          headers=octets).status_code in (404, 405, 415, 422)
    assert sorted(p.name for p in (data_dir / "traces").iterdir()) == ["mine.csv"]


def test_the_library_resolves_names_inside_it_only(tmp_path):
    root = tmp_path / "traces"
    root.mkdir()
    (root / "real.csv").write_text("x\n")
    (root / "alias.csv").symlink_to(root / "real.csv")  # a link within the folder is fine
    lib = TraceLibrary(root, 100)
    assert lib.resolve("alias.csv") == (root / "real.csv").resolve()
    assert [t["name"] for t in lib.list()] == ["alias.csv", "real.csv"]
    with pytest.raises(TraceError, match="no paths"):
        lib.resolve(str(root / "real.csv"))
    with pytest.raises(TraceError, match="no trace named"):
        TraceLibrary(tmp_path / "absent", 100).resolve("real.csv")
