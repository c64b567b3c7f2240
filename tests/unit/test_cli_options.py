"""The CLI as a user meets it: its version, settings errors, and commands
that need a stack's data."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from tiering.app import cli
from tiering.app.client import ApiClient


def run(*args: str):
    return CliRunner().invoke(cli.app, list(args))


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"tiering {version('tiering')}"


def test_a_bad_setting_is_named_as_the_environment_variable_that_sets_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIERING_SHARDS", "many")
    r = run("audit", "k")
    assert r.exit_code == 2 and "TIERING_SHARDS" in r.output


def test_commands_that_read_a_log_do_not_create_an_empty_store(monkeypatch, tmp_path):
    empty = tmp_path / "nothing-ran-here"
    monkeypatch.setenv("TIERING_DATA_DIR", str(empty))
    for args in (["audit", "k"], ["projections", "rebuild"], ["projections", "quarantine", "list"]):
        r = run(*args)
        assert r.exit_code == 2 and "TIERING_DATA_DIR" in r.output, (args, r.output)
    assert not empty.exists()


def test_a_replay_with_no_valid_line_fails(monkeypatch, tmp_path):
    sent = []
    monkeypatch.setattr(ApiClient, "post_batch", lambda self, records, materialize=None: sent.append(records))
    monkeypatch.setenv("TIERING_DATA_DIR", str(tmp_path))
    trace = tmp_path / "junk.csv"
    trace.write_text("time,path,method,bytes\nyesterday,a,GET,1\nnoon,b,FETCH,x\n")
    r = run("replay-trace", str(trace), "--format", "csv", "--mapping", "ts=time,key=path,op=method,size=bytes")
    assert r.exit_code == 2 and "no line of junk.csv" in r.output and sent == []
