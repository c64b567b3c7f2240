"""The dashboard page and its server.

``tiering launch`` serves it on its own port (TIERING_DASHBOARD_PORT) with a
Bokeh server in a thread of the launch process, beside uvicorn: no extra
package is needed, and a slow browser session never holds up the API's
event loop. The page reads and acts only through the REST API, so it could
run anywhere that reaches the API.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from typing import Any

import panel as pn

from tiering.config import Settings
from tiering.web.dashboard import controls, views
from tiering.web.dashboard.login import Sessions, key_login, session_of
from tiering.web.dashboard.store import DashboardStore

log = logging.getLogger("tiering.dashboard")
TITLE = "tiering dashboard"


def _card(title: str, *objects, **kwargs) -> pn.Card:
    return pn.Card(*objects, title=title, collapsible=False, sizing_mode="stretch_width", **kwargs)


def build_page(store: DashboardStore, refresh_ms: int | None = None,
               who: dict[str, Any] | None = None) -> pn.viewable.Viewable:
    """The whole page over one store, with the controls ``who`` (``GET
    /whoami``; None: every control) may use; with ``refresh_ms`` it refreshes itself."""
    v = views.bound_views(store)
    signed_in = [pn.pane.HTML(f'{html.escape(who["identity"])} ({html.escape(who["role"])}) '
                              '<a href="/logout">sign out</a>', css_classes=["signed-in"])] if who else []
    header = pn.Row(pn.pane.Markdown(f"## {TITLE}"), pn.layout.HSpacer(), *signed_in,
                    controls.tenant_filter(store), sizing_mode="stretch_width")
    estate = pn.Column(
        v["overview"],
        pn.Row(_card("Tier distribution", v["tier_objects"]),
               _card("Tier distribution", v["tier_bytes"]), sizing_mode="stretch_width"),
        pn.Row(_card("Cost", v["cost"]), _card("Moves", v["moves"]), sizing_mode="stretch_width"),
        pn.Row(_card("Top objects by recent access (click for history)",
                     controls.top_objects(store)),
               _card("Model", v["model"], v["importances"]), sizing_mode="stretch_width"),
        _card("Object drill-down", controls.drill_down(store), v["object"]),
        _card("Quotas", v["quotas"]),
        sizing_mode="stretch_width")
    tabs = [("Estate", estate)]
    if may(who, "operator"):
        steering = [pn.Row(controls.autopilot(store), controls.retrain(store), sizing_mode="stretch_width"),
                    controls.jobs(store)] if may(who, "admin", estate=True) else []
        operate = pn.Column(
            *steering,
            _card("Recent decisions (select pending ones to approve or reject)",
                  controls.decisions(store)),
            *([controls.whatif(store)] if steering else []), sizing_mode="stretch_width")
        tabs.append(("Operate", operate))
    page = pn.Column(header, v["notices"], pn.Tabs(*tabs, dynamic=False),
                     sizing_mode="stretch_width", css_classes=["tiering-dashboard"])
    if refresh_ms:
        async def first_load() -> None:
            await store.load_traces()
            await store.refresh()

        pn.state.onload(first_load)
        pn.state.add_periodic_callback(store.tick, period=refresh_ms)
    return page


def may(who: dict[str, Any] | None, role: str, estate: bool = False) -> bool:
    """Whether ``who`` has ``role`` or higher (and, with ``estate``, a key of all tenants)."""
    if who is None:
        return True
    ranks = ("viewer", "operator", "admin")
    return ranks.index(who["role"]) >= ranks.index(role) and (not estate or who["tenant"] == "*")


def session_page(settings: Settings, sessions: Sessions, cookie_secret: str):
    """A fresh store per browser session, calling the API with the signed-in
    user's key; closed with the session."""
    request = pn.state.curdoc.session_context.request
    session = session_of(sessions, cookie_secret, dict(request.cookies))
    if session is None:
        return pn.pane.HTML('Your session has ended: <a href="/login">sign in</a> again.')
    store = DashboardStore(settings.resolved_api_url, token=session.key, who=session.who)

    def closed(_ctx) -> None:  # Bokeh calls this synchronously, on the server's loop
        try:
            asyncio.get_running_loop().create_task(store.aclose())
        except RuntimeError:  # no loop running: the server is stopping anyway
            pass

    pn.state.on_session_destroyed(closed)
    return build_page(store, refresh_ms=int(settings.dashboard_refresh_s * 1000), who=session.who)


def serve(settings: Settings) -> Any:
    """Start the dashboard server in a thread; returns it (``.stop()`` ends it)."""
    pn.extension("tabulator", notifications=False)
    host, port = settings.resolved_dashboard_host, settings.dashboard_port
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    sessions, cookie_secret = Sessions(), secrets.token_hex(32)  # sessions live as long as the process
    server = pn.serve({"/": lambda: session_page(settings, sessions, cookie_secret)}, port=port, address=host,
                      websocket_origin=origins + list(settings.dashboard_origins), show=False,
                      threaded=True, title=TITLE, verbose=False,
                      auth_provider=key_login(settings.resolved_api_url, sessions), cookie_secret=cookie_secret)
    log.info("dashboard on http://%s:%s", host, port)
    return server
