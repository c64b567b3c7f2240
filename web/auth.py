"""Who may call what: every route takes one of the principals below.

``Viewer``, ``Operator`` and ``Admin`` admit a key of that role or higher, for
its own tenant; ``EstateViewer`` and ``EstateAdmin`` need a key of all
tenants (``*``), for what spans every tenant (the autopilot, prices, training,
Prometheus counters). A route's tenant checks use ``services.access``'s
``require_tenant`` and ``tenant_scope``. The route matrix test fails on any
route that takes none of these.
"""

from __future__ import annotations

from typing import Annotated, Callable

from fastapi import Depends, Header

from tiering.domain.governance import Principal, Role
from tiering.services.errors import Forbidden
from tiering.web.deps import ServicesDep


def caller(services: ServicesDep, authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
           x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Principal:
    """The key presented: ``X-API-Key`` if sent, else ``Authorization: Bearer``."""
    presented = x_api_key
    if presented is None and authorization is not None:
        scheme, _, token = authorization.partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
    return services.access.authenticate(presented)


def _needs(role: Role, estate: bool = False) -> Callable[..., Principal]:
    def check(who: Annotated[Principal, Depends(caller)]) -> Principal:
        if not who.may(role):
            raise Forbidden(f"this needs the {role.value} role; this key is {who.role.value}")
        if estate and not who.all_tenants:
            raise Forbidden("this spans every tenant: it needs a key for all tenants")
        return who
    check.__name__ = f"needs_{role.value}{'_estate' if estate else ''}"
    check.rule = (role, estate)  # type: ignore[attr-defined]
    return check


needs_viewer = _needs(Role.VIEWER)
needs_operator = _needs(Role.OPERATOR)
needs_admin = _needs(Role.ADMIN)
needs_estate_viewer = _needs(Role.VIEWER, estate=True)
needs_estate_admin = _needs(Role.ADMIN, estate=True)

Viewer = Annotated[Principal, Depends(needs_viewer)]
Operator = Annotated[Principal, Depends(needs_operator)]
Admin = Annotated[Principal, Depends(needs_admin)]
EstateViewer = Annotated[Principal, Depends(needs_estate_viewer)]
EstateAdmin = Annotated[Principal, Depends(needs_estate_admin)]
RULES = (needs_viewer, needs_operator, needs_admin, needs_estate_viewer, needs_estate_admin)
