"""One log configuration for the launch and every actor: level, format, the
component on every line, and other libraries held back."""

from __future__ import annotations

import json
import logging

import pytest

from tiering.adapters.logs import configure_logging
from tiering.config import Settings


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_name_the_component_and_keep_exceptions(capsys):
    configure_logging("INFO", "json", "shard-3")
    logging.getLogger("tiering.shards").info("ready on %s", "node-a")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tiering.shards").exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["component"], r["logger"], r["message"]) for r in lines] == [
        ("INFO", "shard-3", "tiering.shards", "ready on node-a"), ("ERROR", "shard-3", "tiering.shards", "failed")]
    assert "ValueError: boom" in lines[1]["exc"]


def test_text_at_info_holds_other_libraries_to_warnings_unless_debug(capsys):
    configure_logging("INFO", "text", "launch")
    logging.getLogger("aiokafka.consumer").info("joined group")
    logging.getLogger("aiokafka.consumer").warning("rebalancing")
    logging.getLogger("tiering.launch").debug("not shown")
    err = capsys.readouterr().err
    assert "joined group" not in err and "not shown" not in err
    assert "WARNING [launch] aiokafka.consumer: rebalancing" in err
    configure_logging("DEBUG", "text", "launch")
    logging.getLogger("aiokafka.consumer").info("joined group")
    assert "joined group" in capsys.readouterr().err


def test_settings_name_the_variable_and_take_any_case(monkeypatch):
    monkeypatch.setenv("TIERING_LOG_LEVEL", "debug")
    monkeypatch.setenv("TIERING_LOG_FORMAT", "json")
    s = Settings()
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    monkeypatch.setenv("TIERING_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
