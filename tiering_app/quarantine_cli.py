"""``tiering projections quarantine list|retry``: events the projector set aside."""

from __future__ import annotations

import typer
from rich.table import Table

from tiering.app.admin import iso

quarantine_app = typer.Typer(help="Events the projector could not apply, set aside so later ones were.",
                             no_args_is_help=True)


@quarantine_app.command("list")
def list_quarantined() -> None:
    """Each event set aside: its notification id, object, kind and error."""
    from tiering.app.cli import load_existing_store, out
    from tiering.projections.runner import ProjectionRunner

    runner = ProjectionRunner(load_existing_store())
    try:
        rows = runner.quarantined()
    finally:
        runner.close()
    table = Table(title=f"{len(rows)} quarantined event(s)")
    for col in ("notification", "object", "version", "kind", "quarantined", "error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["notification_id"]), r["object_id"], str(r["version"]), r["kind"] or "",
                      iso(r["quarantined_at"]), r["error"])
    out.print(table)


@quarantine_app.command("retry")
def retry() -> None:
    """Rebuild the read models from the whole log, in order: what applies now
    leaves the quarantine, what still fails stays there (a fixed projector, or
    an event an upcaster now reads, is the usual reason to retry)."""
    from tiering.app.admin import rebuild_projections
    from tiering.app.cli import err, load_existing_store, out
    from tiering.projections.runner import ProjectionRunner

    settings = load_existing_store()
    rebuild_projections(settings, err)
    runner = ProjectionRunner(settings)
    try:
        left = len(runner.quarantined())
    finally:
        runner.close()
    out.print(f"{left} event(s) still quarantined")
