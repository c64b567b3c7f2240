"""Offline operator commands: rebuilding read models and auditing a log."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from rich.console import Console
from rich.table import Table

from tiering.adapters.eventstore import open_object_logs
from tiering.config import Settings


def iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def rebuild_projections(settings: Settings, console: Console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tiering.projections.runner import ProjectionRunner

    runner = ProjectionRunner(settings)
    head = runner.lag()[1] or 0
    with Progress(TextColumn("rebuild"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("rebuild", total=head)
        runner.rebuild(on_progress=lambda position: progress.update(task, completed=position))
    console.print(f"rebuilt read models from {head:,} events")


def audit_object(settings: Settings, tenant: str, key: str, at: float | None,
                 incarnation: int | None, console: Console) -> bool:
    app = open_object_logs(settings.eventstore_env())
    history = app.history(tenant, key, incarnation)
    if not history:
        return False
    table = Table(title=f"log of {tenant}/{key}", show_lines=False)
    for col in ("v", "event", "event time", "recorded", "details"):
        table.add_column(col, overflow="fold")
    later = False  # the log is read as a prefix, as state_at reads it
    for h in history:
        details = {k: v for k, v in h.data.items() if k not in ("at",)}
        later = later or (at is not None and h.at is not None and h.at > at)
        marker = "[dim]" if later else ""
        table.add_row(f"{marker}{h.version}", f"{marker}{h.kind}", f"{marker}{iso(h.at)}",
                      f"{marker}{h.recorded_at[:23]}", f"{marker}{json.dumps(details, default=str)}")
    console.print(table)
    if at is not None:
        state = app.state_at(tenant, key, at, incarnation)
        if state is None:
            console.print(f"as of {iso(at)}: the object did not exist yet")
        else:
            console.print(f"as of {iso(at)} (version {state.version}): tier={state.tier.value} "
                          f"size={state.size} accesses={state.accesses_total} "
                          f"last_access={iso(state.last_access_at)} "
                          f"deleted={'yes' if state.is_deleted else 'no'} "
                          f"move={json.dumps(state.move)}")
    return True
