"""Logging for the launch process and every actor: one level, one format
(``TIERING_LOG_LEVEL``, ``TIERING_LOG_FORMAT``), each line naming the
component that wrote it.

Actors log to their stderr; the launch's Ray driver streams those lines to its
own output (``log_to_driver``), on every node, so an operator reads one
stream. Other libraries are held at WARNING unless the level is DEBUG: their
INFO chatter (Kafka group joins, HTTP retries, Bokeh) is not ours to show.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from datetime import datetime, timezone

OURS = "tiering"
# Libraries whose INFO lines would drown ours at the default level.
CHATTY = ("aiokafka", "kafka", "urllib3", "bokeh", "tornado", "asyncio", "minio", "filelock", "httpx",
          "httpcore", "uvicorn", "ray", "panel", "param", "eventsourcing")


def ray_component() -> str:
    """The named actor (``shard-0``, ``mover-1``) or task this Ray worker runs."""
    try:
        import ray

        ctx = ray.get_runtime_context()
        return ctx.get_actor_name() or ctx.get_task_name() or "worker"
    except Exception:  # noqa: BLE001 - not in a Ray worker, or too early in one
        return "worker"


class Component(logging.Filter):
    """Puts ``component`` on every record: fixed, or asked of Ray per record."""

    def __init__(self, component: str | None):
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = self.component or ray_component()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: what a log shipper indexes without parsing."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name,
               "component": getattr(record, "component", None), "message": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text", component: str | None = "launch") -> None:
    """Replace the root handlers with one on stderr, in ``fmt``, at ``level``.
    ``component`` None: each record names the Ray actor or task that wrote it
    (the hook every worker of a launched stack runs, ``setup_worker``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Component(component))
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s [%(component)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric)
    logging.getLogger(OURS).setLevel(numeric)
    others = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in CHATTY:
        logging.getLogger(name).setLevel(others)
    # Python warnings become log records: shown at DEBUG only, one line each.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.ERROR)
    if numeric > logging.DEBUG:
        warnings.simplefilter("ignore", DeprecationWarning)


def worker_runtime_env(level: str, fmt: str) -> dict:
    """The runtime env that makes every worker of a stack, on every node, log
    as the launch does: Ray runs ``setup_worker`` first in each."""
    return {"worker_process_setup_hook": f"{__name__}.setup_worker",
            "env_vars": {"TIERING_LOG_LEVEL": level, "TIERING_LOG_FORMAT": fmt}}


def setup_worker() -> None:
    configure_logging(os.environ.get("TIERING_LOG_LEVEL", "INFO"), os.environ.get("TIERING_LOG_FORMAT", "text"),
                      None)
