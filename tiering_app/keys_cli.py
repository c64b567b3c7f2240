"""``tiering keys create|list|revoke`` and ``tiering actions``: access
governance on the server host, straight on the governance log (no running
stack needed; the data dir's owner is trusted with it)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from tiering.app.admin import iso
from tiering.domain.governance import ALL_TENANTS, Principal, Role

keys_app = typer.Typer(help="API keys: per tenant, with a role; only their digests are stored.",
                       no_args_is_help=True)
# Whoever runs these owns the data dir; the log names them as such.
HOST_ADMIN = Principal("host", "host-admin", ALL_TENANTS, Role.ADMIN)


def _access():
    from tiering.adapters.eventstore import open_governance
    from tiering.app.cli import load_settings
    from tiering.services.access import AccessControl

    settings = load_settings()
    return AccessControl(open_governance(settings.eventstore_env(), str(settings.governance_path)))


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Whose key (shown in the log with everything done with it).")],
    tenant: Annotated[str, typer.Option(help="The tenant it acts for; '*' for all.")],
    role: Annotated[Role, typer.Option(help="viewer, operator or admin.")] = Role.VIEWER,
    expires_in_days: Annotated[Optional[float], typer.Option(min=0.001, help="Days until it expires.")] = None,
) -> None:
    """Issue a key. It is printed once; only its digest is stored."""
    from tiering.app.cli import fail, out
    from tiering.services.errors import UseCaseError

    access = _access()
    try:
        issued = access.issue(HOST_ADMIN, tenant, role, name,
                              None if expires_in_days is None else expires_in_days * 86_400)
    except UseCaseError as e:
        raise fail(e.message) from None
    finally:
        access.log.close()
    out.print(f"key {issued['key_id']} for {name} ({role.value}, tenant {tenant}); shown only now:")
    out.print(issued["key"])


@keys_app.command("list")
def list_keys() -> None:
    """Every key: id, name, tenant, role, expiry, whether revoked."""
    from tiering.app.cli import out

    access = _access()
    try:
        keys = access.list_keys(HOST_ADMIN)
    finally:
        access.log.close()
    table = Table(title="API keys")
    for col in ("key id", "name", "tenant", "role", "issued", "expires", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(k["key_id"], k["name"], k["tenant"], k["role"], iso(k["issued_at"]),
                      iso(k["expires_at"]), k["revoked_by"] or "")
    out.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from 'tiering keys list').")]) -> None:
    """Revoke a key: it stops working (within seconds in a running API)."""
    from tiering.app.cli import fail, out
    from tiering.services.errors import UseCaseError

    access = _access()
    try:
        access.revoke(HOST_ADMIN, key_id)
    except UseCaseError as e:
        raise fail(e.message) from None
    finally:
        access.log.close()
    out.print(f"revoked {key_id}")


def show_actions(tenant: str | None) -> None:
    """What operators and admins did, oldest first (``tiering audit --actions``)."""
    from tiering.app.cli import out

    access = _access()
    try:
        actions = access.actions(HOST_ADMIN, tenant)
    finally:
        access.log.close()
    table = Table(title="operator and admin actions")
    for col in ("recorded", "by", "role", "tenant", "action", "target", "details"):
        table.add_column(col, overflow="fold")
    for a in actions:
        table.add_row(iso(a["at"]), a["by"], a["role"], a["tenant"], a["action"], a["target"],
                      ", ".join(f"{k}={v}" for k, v in a["details"].items()))
    out.print(table)
