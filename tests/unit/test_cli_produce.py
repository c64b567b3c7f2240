"""`tiering produce` leaves writing bytes to the API unless told otherwise."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tiering.app import cli
from tiering.app.client import ApiClient


@pytest.mark.parametrize("flag, sent", [([], None), (["--no-materialize"], False)])
def test_produce_passes_the_materialize_choice_with_every_batch(monkeypatch, tmp_path, flag, sent):
    seen = []

    def post_batch(self, records, materialize=None):
        seen.append((len(records), materialize))
        return {"events": len(records)}

    monkeypatch.setattr(ApiClient, "post_batch", post_batch)
    monkeypatch.setenv("TIERING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIERING_INGEST_BATCH_SIZE", "400")
    r = CliRunner().invoke(cli.app, ["produce", "--total", "1000", "--objects", "50", *flag])
    assert r.exit_code == 0, r.output
    assert seen == [(400, sent), (400, sent), (200, sent)]
    assert "sent 1,000 records" in r.output
